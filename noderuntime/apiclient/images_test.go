package apiclient

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/api/apitest"
)

// The image calls reach their routes whole: a name with a registry port
// and slashes arrives as one name, a digest as one segment. The server's
// refusals before containerd show it (the images themselves are the
// integration test's).
func TestImageCallsReachTheirRoutes(t *testing.T) {
	srv := httptest.NewServer(apitest.Server(t, nil).Handler(true))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, apitest.Token)
	if err != nil {
		t.Fatal(err)
	}
	var ae *Error
	_, err = c.RemoveImage(t.Context(), "reg.test:5000/Team/app:1", true)
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, `"reg.test:5000/Team/app:1"`) {
		t.Fatalf("remove of a bad name: %v", err)
	}
	_, err = c.ImagesByDigest(t.Context(), "sha256:not-hex")
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "sha256:not-hex") {
		t.Fatalf("lookup of a bad digest: %v", err)
	}
}
