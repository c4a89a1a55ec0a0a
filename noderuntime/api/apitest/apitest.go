// Package apitest makes node API servers for the tests of its clients: a
// real store in a temporary folder and a controller that is never started,
// so deployments are stored but never run.
package apitest

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Token is the admin token of the servers made here.
const Token = "sekrit"

// Server is an API whose long polls and waits follow src.
func Server(t testing.TB, src changes.Source) *api.Server {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &api.Server{Store: st, Controller: reconcile.New(reconcile.Options{Store: st, Log: log}), Token: Token, Log: log, Changes: src}
}
