package console

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// dist is `make ui`'s output; sources.sha256 beside it records which
// sources it was built from (see stale_test.go).
//
//go:embed dist
var dist embed.FS

// Dist is the built console, rooted at its index.html.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path: cannot happen
	}
	return sub
}

// contentSecurityPolicy lets the page load and talk to nothing but this
// node: no CDN, no inline script, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// gzipped holds the built files compressed once, by their path in Dist:
// the page is the same for every browser, so no request compresses it.
var gzipped = sync.OnceValue(func() map[string][]byte {
	out := map[string][]byte{}
	_ = fs.WalkDir(Dist(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Dist(), p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := zw.Write(b); err == nil && zw.Close() == nil && buf.Len() < len(b) {
			out[p] = buf.Bytes()
		}
		return nil
	})
	return out
})

// servedPath is the file of Dist a request under /ui/ names.
func servedPath(urlPath string) string {
	p := strings.TrimPrefix(urlPath, Prefix)
	if p == "" || strings.HasSuffix(p, "/") {
		p += "index.html"
	}
	return p
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func assets() http.Handler {
	files := http.StripPrefix("/ui", http.FileServerFS(Dist()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, Prefix+"assets/") {
			// Vite names them by content hash.
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		h.Add("Vary", "Accept-Encoding")
		p := servedPath(r.URL.Path)
		if z, ok := gzipped()[p]; ok && acceptsGzip(r) && r.Header.Get("Range") == "" {
			ct := mime.TypeByExtension(path.Ext(p))
			if ct == "" {
				ct = "application/octet-stream"
			}
			h.Set("Content-Type", ct)
			h.Set("Content-Encoding", "gzip")
			h.Set("Content-Length", strconv.Itoa(len(z)))
			if r.Method != http.MethodHead {
				_, _ = w.Write(z)
			}
			return
		}
		files.ServeHTTP(w, r)
	})
}
