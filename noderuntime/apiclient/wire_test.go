package apiclient

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// The client knows the node by its wire types only: importing the server or
// the controller would let their structs become the API again.
func TestImportsOnlyTheWireTypes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range pf.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			rest, ok := strings.CutPrefix(p, "github.com/zlayer/zlayer/noderuntime/")
			if ok && rest != "apitypes" && rest != "pki" {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}

// serverClient is a client of a real server on a store of its own; the
// controller is not started, so nothing runs.
func serverClient(t *testing.T) *Client {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &api.Server{Store: st, Controller: reconcile.New(reconcile.Options{Store: st, Log: log}), Token: "t", Log: log}
	srv := httptest.NewServer(s.Handler(true))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "t")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The client reads what a real server writes.
func TestAgainstTheServer(t *testing.T) {
	c := serverClient(t)
	ctx := context.Background()

	st1, err := c.Apply(ctx, "shop.yaml", "version: v1\ndeployment: shop\nservices:\n  web:\n    image: busybox\n    scale: {replicas: 2}\n")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing runs (the controller is not started): the service waits for
	// its replicas.
	if st1.Name != "shop" || st1.Generation != 1 || st1.Ready || len(st1.Services) != 1 ||
		st1.Services[0].Name != "web" || st1.Services[0].Desired != 2 || st1.Services[0].State != apitypes.ServiceProgressing {
		t.Fatalf("apply: %+v", st1)
	}
	if got, err := c.Scale(ctx, "shop", "web", 3); err != nil || got.Generation != 2 || got.Services[0].Desired != 3 {
		t.Fatalf("scale: %+v %v", got, err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "shop" || list[0].UpdatedAt.IsZero() {
		t.Fatalf("list: %+v %v", list, err)
	}
	if rs, err := c.Replicas(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("replicas: %+v %v", rs, err)
	}

	_, err = c.Apply(ctx, "bad.yaml", "version: v1\ndeployment: shop\nservices:\n  web:\n    image: busybox\n    oops: 1\n")
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != "invalid_spec" || len(ae.Errors) != 1 {
		t.Fatalf("invalid spec: %v", err)
	}
	if e := ae.Errors[0]; e.File != "bad.yaml" || e.Line != 6 || e.Column != 5 || e.Path != "services.web.oops" || e.Msg == "" {
		t.Errorf("spec error: %+v", e)
	}
	if _, err := c.Get(ctx, "nope"); !IsNotFound(err) {
		t.Errorf("unknown deployment: %v", err)
	}
	if err := c.Delete(ctx, "shop"); err != nil {
		t.Errorf("delete: %v", err)
	}
}
