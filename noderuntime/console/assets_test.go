package console

import (
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAssetsServedGzipOrPlain(t *testing.T) {
	mux := http.NewServeMux()
	New(func(string) Scope { return ScopeNone }).Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	want, err := fs.ReadFile(Dist(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	// The transport asks for gzip and unpacks it unless told not to.
	tr := &http.Transport{DisableCompression: true}
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{{"gzip, deflate", true}, {"br;q=1, gzip;q=0", false}, {"", false}} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ui/", nil)
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = resp.Body
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", tc.accept, got, tc.gzip)
		}
		if tc.gzip {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		got, _ := io.ReadAll(body)
		resp.Body.Close()
		if string(got) != string(want) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("Accept-Encoding %q: %s %q", tc.accept, resp.Header.Get("Content-Type"), got)
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Error("no Vary: Accept-Encoding")
		}
	}
	resp, err := http.Get(srv.URL + "/ui/nope.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a file not in the build: %d", resp.StatusCode)
	}
}
