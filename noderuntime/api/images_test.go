package api

import (
	"testing"
)

// What the image routes decide before containerd is asked: the scopes,
// a malformed digest or force. Listing and removing themselves run on
// the node's containerd (integration/node's image story).
func TestImageRoutesRefuseBeforeContainerd(t *testing.T) {
	s, srv := newServer(t)
	s.ReadToken = "reader"
	for _, c := range []struct {
		method, path, token string
		code                int
		errCode             string
	}{
		{"GET", "/v1/images", "", 401, "unauthorized"},
		{"DELETE", "/v1/images/docker.io/library/app:1", "reader", 403, "forbidden"},
		{"POST", "/v1/images/prune", "reader", 403, "forbidden"},
		{"GET", "/v1/images/digests/sha256:nothex", "reader", 400, "bad_request"},
		{"GET", "/v1/images/digests/latest", "sekrit", 400, "bad_request"},
		{"DELETE", "/v1/images/app:1?force=maybe", "sekrit", 400, "bad_request"},
		{"PUT", "/v1/images/app:1", "sekrit", 404, "not_found"},
	} {
		code, m := do(t, c.method, srv.URL+c.path, c.token, "", "")
		if code != c.code || c.errCode != "" && m["code"] != c.errCode {
			t.Errorf("%s %s (token %q): %d %v, want %d %s", c.method, c.path, c.token, code, m, c.code, c.errCode)
		}
	}
}
