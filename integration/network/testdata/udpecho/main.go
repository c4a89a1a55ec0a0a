// Command udpecho answers every datagram on the address in its argument
// with "HOSTNAME: PAYLOAD", so a test sees which replica answered. The
// network tests build it into an image: busybox has no UDP server.
package main

import (
	"log"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: udpecho ADDR")
	}
	pc, err := net.ListenPacket("udp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	host, _ := os.Hostname()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := pc.WriteTo(append([]byte(host+": "), buf[:n]...), from); err != nil {
			log.Print(err)
		}
	}
}
