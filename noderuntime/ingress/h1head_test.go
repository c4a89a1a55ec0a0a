package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestParseRequestHeadDeclines(t *testing.T) {
	// Each of these goes to net/http instead of the fast path.
	for name, head := range map[string]string{
		"http/1.0":          "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
		"h2 preface":        "PRI * HTTP/2.0\r\n\r\n",
		"absolute form":     "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"escaped path":      "GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n",
		"no host":           "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
		"two hosts":         "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"upgrade":           "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"chunked body":      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"expect":            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
		"large body":        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n",
		"two lengths":       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
		"signed length":     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n",
		"folded header":     "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  2\r\n\r\n",
		"bad header name":   "GET / HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n",
		"connection names":  "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret\r\n\r\n",
		"bad method":        "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"control in target": "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n",
		"bare LF in value":  "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\nTransfer-Encoding: chunked\r\n\r\n",
		"bare CR in value":  "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\rContent-Length: 5\r\n\r\n",
		"NUL in value":      "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
	} {
		var r reqHead
		if err := parseRequestHead([]byte(head), &r); !errors.Is(err, errDecline) {
			t.Errorf("%s: %v, want errDecline", name, err)
		}
	}
}

func TestRequestHeadRewrite(t *testing.T) {
	head := "GET /api/x?q=%20 HTTP/1.1\r\nhost: Example.COM:8080\r\nUser-Agent: t\r\nConnection: keep-alive, close\r\n" +
		"Keep-Alive: 5\r\nProxy-Authorization: secret\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\n" +
		"X-Forwarded-Proto: gopher\r\nForwarded: for=x\r\nTE: trailers\r\nContent-Length: 2\r\n\r\n"
	var r reqHead
	if err := parseRequestHead([]byte(head), &r); err != nil {
		t.Fatal(err)
	}
	if string(r.path) != "/api/x" || string(r.host) != "Example.COM:8080" || !r.close || r.bodyLen != 2 || r.headLen != len(head) || r.replayable() {
		t.Fatalf("parsed %+v", r)
	}
	out := string(appendOutHead(nil, []byte(head), &r, "192.0.2.7", true, true))
	want := "GET /api/x?q=%20 HTTP/1.1\r\nhost: Example.COM:8080\r\nUser-Agent: t\r\nContent-Length: 2\r\n" +
		"X-Forwarded-For: 10.0.0.1, 10.0.0.2, 192.0.2.7\r\nX-Forwarded-Host: Example.COM:8080\r\nX-Forwarded-Proto: https\r\n\r\n"
	if out != want {
		t.Fatalf("rewritten head:\n%q\nwant\n%q", out, want)
	}
}

func TestPeekRequestHead(t *testing.T) {
	// The head may arrive in pieces; nothing is consumed, so a declined
	// request can be handed over whole.
	pr, pw := io.Pipe()
	br := bufio.NewReaderSize(pr, 64)
	go func() {
		for _, piece := range []string{"GET / HTTP/1.1\r\nHo", "st: a\r\n\r", "\nGET /next HTTP/1.1\r\n"} {
			pw.Write([]byte(piece))
		}
	}()
	waits := 0
	head, err := peekRequestHead(br, func() { waits++ })
	if err != nil || string(head) != "GET / HTTP/1.1\r\nHost: a\r\n\r\n" {
		t.Fatalf("head %q, %v", head, err)
	}
	if br.Buffered() < len(head) {
		t.Fatal("head consumed")
	}
	if waits != 1 {
		t.Fatalf("beforeWait ran %d times for a head in pieces, want once", waits)
	}
	// A head already whole in the buffer never waits.
	br = bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	br.Peek(1)
	if _, err := peekRequestHead(br, func() { t.Fatal("waited for a head already buffered") }); err != nil {
		t.Fatal(err)
	}
	// A head bigger than the buffer is declined.
	br = bufio.NewReaderSize(strings.NewReader("GET / HTTP/1.1\r\nHost: a\r\nX-Big: "+strings.Repeat("x", 100)+"\r\n\r\n"), 32)
	if _, err := peekRequestHead(br, nil); !errors.Is(err, errDecline) {
		t.Fatalf("oversized head: %v", err)
	}
	// Bare LF line ends are net/http's to accept.
	br = bufio.NewReader(strings.NewReader("GET / HTTP/1.1\nHost: a\n\n"))
	if _, err := peekRequestHead(br, nil); !errors.Is(err, errDecline) {
		t.Fatalf("bare LF: %v", err)
	}
}

func TestParseResponseHead(t *testing.T) {
	for _, c := range []struct {
		name, head, out string
		h               respHead
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", respHead{status: 200, length: 5}},
		{"chunked wins over length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n", respHead{status: 200, length: -1, chunked: true}},
		{"http/1.0 close-delimited", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n", respHead{status: 200, length: -1, http10: true, close: true}},
		{"http/1.0 keep-alive", "HTTP/1.0 404 Not Found\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
			"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n", respHead{status: 404, length: 0, http10: true}},
		{"close", "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
			"HTTP/1.1 204 No Content\r\n", respHead{status: 204, length: -1, close: true}},
		{"repeated equal length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", respHead{status: 200, length: 3}},
	} {
		var h respHead
		out, err := parseResponseHead(nil, []byte(c.head), &h)
		if err != nil || string(out) != c.out || h != c.h {
			t.Errorf("%s: %q %+v %v\nwant %q %+v", c.name, out, h, err, c.out, c.h)
		}
	}
	for _, bad := range []string{
		"HTTP/2 200\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
	} {
		var h respHead
		if _, err := parseResponseHead(nil, []byte(bad), &h); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestCopyChunked(t *testing.T) {
	body := "5;ext=1\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\nNEXT"
	src := bufio.NewReader(strings.NewReader(body))
	var sb strings.Builder
	dst := bufio.NewWriter(&sb)
	if err := (&bodyCopy{dst: dst, src: src}).chunked(); err != nil {
		t.Fatal(err)
	}
	dst.Flush()
	if sb.String() != strings.TrimSuffix(body, "NEXT") {
		t.Fatalf("copied %q", sb.String())
	}
	rest, _ := src.ReadString(0)
	if rest != "NEXT" {
		t.Fatalf("read past the body: %q left", rest)
	}
	for _, bad := range []string{"zz\r\nhello\r\n", "5\r\nhelloXX0\r\n\r\n", "5\r\nhel"} {
		dst := bufio.NewWriter(&strings.Builder{})
		if err := (&bodyCopy{dst: dst, src: bufio.NewReader(strings.NewReader(bad))}).chunked(); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// FuzzRequestHeadAgreesWithNetHTTP: whatever the fast path accepts,
// net/http reads the same way (method, target, host, body length), and the
// head sent to the replica frames the same request: no byte sequence may
// mean one request to the ingress and another to a replica.
func FuzzRequestHeadAgreesWithNetHTTP(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: a:80\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 4096)
		head, err := peekRequestHead(br, nil)
		if err != nil {
			return
		}
		var r reqHead
		if parseRequestHead(head, &r) != nil {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("fast path accepted what net/http refuses (%v):\n%q", err, head)
		}
		if req.Method != string(r.method) || req.RequestURI != string(r.target) || req.Host != string(r.host) ||
			req.ContentLength != r.bodyLen || req.Close != r.close {
			t.Fatalf("disagreement on %q:\nnet/http %s %s host=%q len=%d close=%v\nfast     %+v",
				head, req.Method, req.RequestURI, req.Host, req.ContentLength, req.Close, r)
		}
		out := appendOutHead(nil, head, &r, "192.0.2.1", false, false)
		up, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(out)))
		if err != nil {
			t.Fatalf("replica cannot read the forwarded head (%v):\n%q", err, out)
		}
		if up.Method != req.Method || up.RequestURI != req.RequestURI || up.Host != req.Host ||
			up.ContentLength != req.ContentLength || len(up.TransferEncoding) != 0 {
			t.Fatalf("forwarded head frames another request:\n%q\n->\n%q", head, out)
		}
	})
}
