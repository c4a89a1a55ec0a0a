// Command ingressecho is the replica of the ingress hardening test: on
// :8080 it answers HTTP requests with the path it got and the X-Forwarded-*
// it was told, on tcp :9000 it echoes, on udp :5300 it echoes datagrams.
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	host, _ := os.Hostname()
	ln, err := net.Listen("tcp", ":9000")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	pc, err := net.ListenPacket("udp", ":5300")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				log.Fatal(err)
			}
			_, _ = pc.WriteTo(append([]byte(host+": "), buf[:n]...), from)
		}
	}()
	log.Fatal(http.ListenAndServe(":8080", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s xff=%s xfh=%s xfp=%s\n", host, r.URL.EscapedPath(),
			strings.Join(r.Header.Values("X-Forwarded-For"), "|"), strings.Join(r.Header.Values("X-Forwarded-Host"), "|"),
			strings.Join(r.Header.Values("X-Forwarded-Proto"), "|"))
	})))
}
