package ingress

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// bodyAllowed is whether a response with this status may have a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// FuzzResponseHeadAgreesWithNetHTTP: whatever response head the fast path
// accepts from a replica, net/http reads the same way (status, framing,
// whether the connection closes), and the head the fast path sends on
// frames the same response for the client: a replica cannot make the
// ingress and the client disagree on where a response ends.
func FuzzResponseHeadAgreesWithNetHTTP(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: close, keep-alive\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"\r\nHTTP/1.1 200 OK\nContent-Length: 0\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		head, err := readResponseHead(bufio.NewReaderSize(bytes.NewReader(in), 4096), nil)
		if err != nil {
			return
		}
		var h respHead
		out, err := parseResponseHead(nil, head, &h)
		if err != nil {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("fast path accepted what net/http refuses (%v):\n%q", err, head)
		}
		chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
		if resp.StatusCode != h.status {
			t.Fatalf("status: net/http %d, fast %d: %q", resp.StatusCode, h.status, head)
		}
		if !bodyAllowed(h.status) {
			return // no body to frame
		}
		closeDelimited := !h.chunked && h.length < 0
		if chunked != h.chunked || (!chunked && resp.ContentLength != h.length) || resp.Close != (h.close || closeDelimited) {
			t.Fatalf("framing of %q:\nnet/http chunked=%v length=%d close=%v\nfast     %+v", head, chunked, resp.ContentLength, resp.Close, h)
		}
		// What the client gets, as exchange sends it for a client that
		// keeps its connection.
		if closeDelimited {
			out = append(out, "Connection: close\r\n"...)
		}
		out = append(out, "\r\n"...)
		cresp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("client cannot read the head sent on (%v):\n%q\n->\n%q", err, head, out)
		}
		cchunked := len(cresp.TransferEncoding) > 0 && cresp.TransferEncoding[0] == "chunked"
		if cresp.StatusCode != h.status || cchunked != chunked || (!chunked && cresp.ContentLength != resp.ContentLength) {
			t.Fatalf("head sent on frames another response:\n%q\n->\n%q", head, out)
		}
	})
}

// FuzzChunkedBodyAgreesWithNetHTTP: a chunked body the fast path passes on
// is one net/http reads the same way: the same data, ending at the same
// byte (no bytes of a next response taken as body, or left as a response).
func FuzzChunkedBodyAgreesWithNetHTTP(f *testing.F) {
	for _, s := range []string{
		"5;ext=1\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\nNEXT",
		"3\r\nabc\r\n0\r\n\r\n",
		"3 \r\nabc\r\n0\r\n\r\n",
		"+3\r\nabc\r\n0\r\n\r\n",
		"3\nabc\n0\n\n",
		"3\r\nabc\n0\r\n\r\n",
		"0\r\nBad Trailer: x\r\n\r\n",
		"0\r\nX: a\nY: b\n\nNEXT",
		"1;" + strings.Repeat("x", 200) + "\r\na\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	const prefix = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	decode := func(body []byte) (data []byte, consumed int, err error) {
		all := append([]byte(prefix), body...)
		r := bytes.NewReader(all)
		br := bufio.NewReader(r)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil {
			return nil, 0, err
		}
		data, err = io.ReadAll(resp.Body)
		if err != nil {
			return nil, 0, err
		}
		return data, len(all) - r.Len() - br.Buffered() - len(prefix), nil
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64<<10 {
			return // bounded
		}
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		src := bufio.NewReaderSize(bytes.NewReader(in), 8<<10)
		if (&bodyCopy{dst: bw, src: src}).chunked() != nil {
			return // declined: the response is cut off with an error
		}
		_ = bw.Flush()
		if !bytes.HasPrefix(in, out.Bytes()) {
			t.Fatalf("the body was changed on the way:\n%q\n->\n%q", in, out.Bytes())
		}
		want, consumed, err := decode(in)
		if err != nil {
			t.Fatalf("fast path passed on a chunked body net/http refuses (%v):\n%q", err, in)
		}
		if consumed != out.Len() {
			t.Fatalf("body ends at byte %d for the fast path, %d for net/http:\n%q", out.Len(), consumed, in)
		}
		got, _, err := decode(out.Bytes())
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("the client reads other data (%v):\n%q\n->\n%q", err, want, got)
		}
	})
}
