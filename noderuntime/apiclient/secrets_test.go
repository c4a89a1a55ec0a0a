package apiclient

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/api/apitest"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/secrets"
)

const secretUser = `version: v1
deployment: shop
services:
  web:
    image: busybox
    env:
      DB: "$S:db-password"
  worker:
    image: busybox
`

// The secret story through the API, without containers: create, deploy a
// spec that uses it (and one naming an unknown one, refused at its
// position), a new value rolls the deployment, rm refused while used,
// and no answer ever carries the value.
func TestSecretsThroughTheAPI(t *testing.T) {
	dir := t.TempDir()
	s := apitest.Server(t, nil)
	s.Secrets = secrets.Open(dir)
	srv := httptest.NewServer(s.Handler(true))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, apitest.Token)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const value = "pw-0123456789-abcdef"

	_, err = c.Apply(ctx, "shop.yaml", secretUser)
	var ae *Error
	if !errors.As(err, &ae) || !strings.Contains(ae.Message, `shop.yaml:7:11: services.web.env.DB: unknown secret "db-password"`) {
		t.Fatalf("unknown secret: %v", err)
	}
	info, err := c.PutSecret(ctx, "db-password", []byte(value))
	if err != nil || info.Version != 1 || info.Size != len(value) {
		t.Fatalf("create: %+v %v", info, err)
	}
	st, err := c.Apply(ctx, "shop.yaml", secretUser)
	if err != nil {
		t.Fatal(err)
	}
	gen := st.Generation
	rec, _ := s.Store.Get("shop")
	h1 := rec.Spec.Services["web"].Hash()
	hw := rec.Spec.Services["worker"].Hash()

	list, err := c.Secrets(ctx)
	if err != nil || len(list) != 1 || strings.Join(list[0].UsedBy, ",") != "shop/web" {
		t.Fatalf("ls: %+v %v", list, err)
	}
	// The same value rolls nothing; a new one rolls the user only.
	if info, _ := c.PutSecret(ctx, "db-password", []byte(value)); info.Version != 1 || len(info.Rolled) != 0 {
		t.Fatalf("same value: %+v", info)
	}
	info, err = c.PutSecret(ctx, "db-password", []byte(value+"-2"))
	if err != nil || info.Version != 2 || strings.Join(info.Rolled, ",") != "shop" {
		t.Fatalf("update: %+v %v", info, err)
	}
	rec, _ = s.Store.Get("shop")
	if rec.Generation != gen+1 || rec.Spec.Services["web"].Hash() == h1 || rec.Spec.Services["worker"].Hash() != hw {
		t.Fatalf("after update: generation %d (was %d), web rolled %v, worker kept %v", rec.Generation, gen,
			rec.Spec.Services["web"].Hash() != h1, rec.Spec.Services["worker"].Hash() == hw)
	}
	hist, err := c.History(ctx, "shop")
	if err != nil || hist[len(hist)-1].Cause != apitypes.CauseSecret {
		t.Fatalf("history: %+v %v", hist, err)
	}

	err = c.DeleteSecret(ctx, "db-password")
	if !errors.As(err, &ae) || ae.Status != 409 || !strings.Contains(ae.Message, "shop/web") {
		t.Fatalf("rm while used: %v", err)
	}
	// No answer and no stored record carries the value.
	for _, path := range []string{"/v1/secrets", "/v1/deployments", "/v1/deployments/shop", "/v1/replicas", "/v1/deployments/shop/history"} {
		body, err := c.Raw(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, value) {
			t.Fatalf("%s shows the value", path)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, secrets.StoreFile))
	if strings.Contains(string(raw), value) {
		t.Fatal("the secrets store holds the value in the clear")
	}
	if err := c.Delete(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSecret(ctx, "db-password"); err != nil {
		t.Fatalf("rm after down: %v", err)
	}
	if err := c.DeleteSecret(ctx, "db-password"); !IsNotFound(err) {
		t.Fatalf("rm again: %v", err)
	}
	if _, err := c.PutSecret(ctx, "db-password", nil); !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("empty value: %v", err)
	}
}
