package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strconv"
)

// errDecline means the fast path does not handle this request; the
// connection goes to the net/http server with nothing consumed.
var errDecline = errors.New("ingress: request needs the full HTTP server")

// maxFastBody is the largest request body the fast path buffers (it keeps
// the body so a failed dial can be retried on another replica); larger
// uploads stream through net/http.
const maxFastBody = 64 << 10

// reqHead is what the fast path needs from a request head. Byte slices
// point into the client's read buffer and are only valid until it is read
// again, so the outgoing head is built before anything else is read.
type reqHead struct {
	method  []byte
	target  []byte
	path    []byte // target without the query
	host    []byte
	bodyLen int64
	close   bool // the client asked to close after this response
	// The client's own X-Forwarded-* values (forwardedFor decides whether
	// they count): For comma-joined, Host and Proto the first given.
	xff, xfHost, xfProto []byte
	headLen              int // bytes of the head in the buffer, blank line included
}

// replayable is whether the request may be sent again to another replica
// after it may have reached the first: idempotent methods without a body.
func (r *reqHead) replayable() bool {
	return r.bodyLen == 0 && replayableMethod(string(r.method))
}

// peekRequestHead waits until a whole request head is in br and returns it
// without consuming it. A head larger than br's buffer, or one using bare
// LF line ends, is declined: net/http reads those. beforeWait (if set) runs
// once, before the first read that waits for more of the head.
func peekRequestHead(br *bufio.Reader, beforeWait func()) ([]byte, error) {
	scanned := 0
	for {
		buf, _ := br.Peek(br.Buffered())
		// The blank line ends the head; search from a little before what
		// was already scanned in case the terminator straddles two reads.
		from := max(scanned-3, 0)
		if i := bytes.Index(buf[from:], []byte("\r\n\r\n")); i >= 0 {
			head := buf[:from+i+4]
			if bytes.Contains(head, []byte("\n\n")) {
				return nil, errDecline
			}
			return head, nil
		}
		if bytes.Contains(buf[from:], []byte("\n\n")) {
			return nil, errDecline
		}
		scanned = len(buf)
		if scanned >= br.Size() {
			return nil, errDecline
		}
		if beforeWait != nil {
			beforeWait()
			beforeWait = nil
		}
		if _, err := br.Peek(scanned + 1); err != nil {
			return nil, err
		}
	}
}

// parseRequestHead checks that head is a request the fast path forwards as
// is: HTTP/1.1, an origin-form target without escapes, one Host, a small
// Content-Length body at most, no upgrade, Expect or transfer coding, no
// folded lines. Anything else returns errDecline, so net/http (which knows
// every corner of the protocol) answers it instead.
func parseRequestHead(head []byte, r *reqHead) error {
	*r = reqHead{headLen: len(head)}
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	method, after, ok := bytes.Cut(line, []byte(" "))
	if !ok || !isToken(method) {
		return errDecline
	}
	target, version, ok := bytes.Cut(after, []byte(" "))
	if !ok || string(version) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return errDecline
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return errDecline
		}
	}
	r.method, r.target = method, target
	r.path = target
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		r.path = target[:i]
	}
	if bytes.IndexByte(r.path, '%') >= 0 || !isCleanPath(r.path) {
		// Routes match the unescaped, clean path: net/http unescapes, and
		// its path cleans (and forwards what it routed on).
		return errDecline
	}
	seenCL := false
	for len(rest) > 2 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !isToken(name) {
			return errDecline // also folded continuation lines
		}
		if hasCTL(value) {
			// A bare CR or LF that a replica might take for a line end
			// would smuggle a header past this parser: net/http refuses.
			return errDecline
		}
		value = trimOWS(value)
		switch headerID(name) {
		case hHost:
			if r.host != nil {
				return errDecline
			}
			r.host = value
		case hContentLength:
			n, err := strconv.ParseInt(string(value), 10, 64)
			if seenCL || err != nil || n < 0 || n > maxFastBody || value[0] == '+' {
				return errDecline
			}
			seenCL, r.bodyLen = true, n
		case hTransferEncoding, hExpect, hUpgrade:
			return errDecline
		case hConnection:
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = trimOWS(tok)
				switch {
				case len(tok) == 0, asciiEqualFold(tok, "keep-alive"):
				case asciiEqualFold(tok, "close"):
					r.close = true
				default:
					// It names more hop-by-hop headers to drop, or asks
					// for an upgrade: rare enough for the slow path.
					return errDecline
				}
			}
		case hXForwardedFor:
			if len(r.xff) > 0 {
				r.xff = append(append(r.xff[:len(r.xff):len(r.xff)], ", "...), value...)
			} else {
				r.xff = value
			}
		case hXForwardedHost:
			if r.xfHost == nil {
				r.xfHost = value
			}
		case hXForwardedProto:
			if r.xfProto == nil {
				r.xfProto = value
			}
		}
	}
	if r.host == nil {
		return errDecline // net/http answers 400
	}
	return nil
}

// appendOutHead writes the head sent to the replica: the request line and
// end-to-end headers as the client sent them, hop-by-hop headers dropped,
// and the client's X-Forwarded-* replaced by what forwardedFor decides (the
// net/http path sets the same).
func appendOutHead(dst, head []byte, r *reqHead, clientIP string, trusted, https bool) []byte {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	dst = append(dst, line...)
	dst = append(dst, "\r\n"...)
	for len(rest) > 2 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, _, _ := bytes.Cut(line, []byte(":"))
		switch headerID(name) {
		case hConnection, hKeepAlive, hProxyConnection, hProxyAuthenticate, hProxyAuthorization,
			hTE, hTrailer, hXForwardedFor, hXForwardedHost, hXForwardedProto, hForwarded:
			continue
		}
		dst = append(dst, line...)
		dst = append(dst, "\r\n"...)
	}
	fw := forwardedFor(trusted, forwarded{priorFor: r.xff, host: r.xfHost, proto: r.xfProto}, r.host, https)
	dst = append(dst, "X-Forwarded-For: "...)
	if len(fw.priorFor) > 0 {
		dst = append(append(dst, fw.priorFor...), ", "...)
	}
	dst = append(dst, clientIP...)
	dst = append(dst, "\r\nX-Forwarded-Host: "...)
	dst = append(dst, fw.host...)
	dst = append(dst, "\r\nX-Forwarded-Proto: "...)
	dst = append(dst, fw.proto...)
	dst = append(dst, "\r\n\r\n"...)
	return dst
}

// respHead is what framing a response needs.
type respHead struct {
	status  int
	http10  bool
	length  int64 // -1 when not given
	chunked bool
	close   bool // the replica will close the connection after this response
}

// noBody is whether the response ends with its head: to HEAD, or 204/304.
func (h *respHead) noBody(isHead bool) bool {
	return isHead || h.status == http.StatusNoContent || h.status == http.StatusNotModified
}

// maxRespHead bounds a replica's response head (net/http's transport
// allows 10 MiB; 1 MiB is plenty for a front door).
const maxRespHead = 1 << 20

var errBadResponse = errors.New("malformed response head from replica")

// readResponseHead reads a response head into dst (reused between
// requests), consuming it.
func readResponseHead(br *bufio.Reader, dst []byte) ([]byte, error) {
	dst = dst[:0]
	lineStart := 0
	for {
		chunk, err := br.ReadSlice('\n')
		dst = append(dst, chunk...)
		if len(dst) > maxRespHead {
			return dst, errBadResponse
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return dst, err
		}
		if l := dst[lineStart:]; string(l) == "\r\n" || string(l) == "\n" {
			if lineStart == 0 {
				// Tolerate stray blank lines before a status line.
				dst = dst[:0]
				continue
			}
			return dst, nil
		}
		lineStart = len(dst)
	}
}

// parseResponseHead reads the status and framing of head and appends to
// dst the head the client gets: HTTP/1.1 status line, hop-by-hop headers
// dropped, Content-Length dropped when chunked wins.
func parseResponseHead(dst, head []byte, h *respHead) ([]byte, error) {
	*h = respHead{length: -1}
	line, rest := cutLine(head)
	version, after, ok := bytes.Cut(line, []byte(" "))
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		h.http10 = true
	default:
		return dst, errBadResponse
	}
	code, _, _ := bytes.Cut(after, []byte(" "))
	n, err := strconv.Atoi(string(code))
	if !ok || err != nil || len(code) != 3 || n < 100 {
		return dst, errBadResponse
	}
	h.status = n
	dst = append(dst, "HTTP/1.1 "...)
	dst = append(dst, after...)
	dst = append(dst, "\r\n"...)
	clStart, clEnd := -1, -1
	var hasClose, hasKeepAlive, sawTE bool
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		if !validField(line) {
			return dst, errBadResponse
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = trimOWS(value)
		switch headerID(name) {
		case hContentLength:
			v, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || v < 0 || value[0] == '+' || (h.length >= 0 && v != h.length) {
				return dst, errBadResponse
			}
			if h.length >= 0 {
				continue // a repeated equal value is sent once
			}
			h.length = v
			clStart = len(dst)
			dst = append(append(dst, line...), "\r\n"...)
			clEnd = len(dst)
			continue
		case hTransferEncoding:
			// net/http's client takes "chunked" alone and nothing else
			// (and no transfer coding at all from HTTP/1.0): anything
			// else is refused here too, not framed another way.
			if sawTE || h.http10 || !asciiEqualFold(value, "chunked") {
				return dst, errBadResponse
			}
			sawTE, h.chunked = true, true
		case hConnection:
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = trimOWS(tok)
				hasClose = hasClose || asciiEqualFold(tok, "close")
				hasKeepAlive = hasKeepAlive || asciiEqualFold(tok, "keep-alive")
			}
			continue
		case hKeepAlive, hProxyConnection, hProxyAuthenticate, hUpgrade, hTE:
			continue
		}
		dst = append(append(dst, line...), "\r\n"...)
	}
	// As net/http decides: HTTP/1.0 closes unless asked to keep alive.
	h.close = hasClose || (h.http10 && !hasKeepAlive)
	if h.chunked && clStart >= 0 {
		dst = append(dst[:clStart], dst[clEnd:]...)
		h.length = -1
	}
	return dst, nil
}

// validField reports whether line is a header field net/http reads: a
// token name right before the colon, a value without control characters.
func validField(line []byte) bool {
	name, value, ok := bytes.Cut(line, []byte(":"))
	return ok && isToken(name) && !hasCTL(value)
}

func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// Header names the fast path acts on.
const (
	hOther = iota
	hHost
	hContentLength
	hTransferEncoding
	hExpect
	hUpgrade
	hConnection
	hKeepAlive
	hProxyConnection
	hProxyAuthenticate
	hProxyAuthorization
	hTE
	hTrailer
	hXForwardedFor
	hXForwardedHost
	hXForwardedProto
	hForwarded
)

var headerNames = [...]string{
	hHost: "host", hContentLength: "content-length", hTransferEncoding: "transfer-encoding",
	hExpect: "expect", hUpgrade: "upgrade", hConnection: "connection", hKeepAlive: "keep-alive",
	hProxyConnection: "proxy-connection", hProxyAuthenticate: "proxy-authenticate",
	hProxyAuthorization: "proxy-authorization", hTE: "te", hTrailer: "trailer",
	hXForwardedFor: "x-forwarded-for", hXForwardedHost: "x-forwarded-host",
	hXForwardedProto: "x-forwarded-proto", hForwarded: "forwarded",
}

// headerID names the header case-insensitively without allocating.
func headerID(name []byte) int {
	for id := hHost; id < len(headerNames); id++ {
		if len(name) == len(headerNames[id]) && asciiEqualFold(name, headerNames[id]) {
			return id
		}
	}
	return hOther
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// hasCTL reports whether b holds a control character other than tab.
func hasCTL(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}

// isToken reports whether b is a non-empty RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0:
		default:
			return false
		}
	}
	return true
}
