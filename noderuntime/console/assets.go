package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
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
		files.ServeHTTP(w, r)
	})
}
