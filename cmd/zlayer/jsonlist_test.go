package main

import (
	"bytes"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

func TestPrintJSONListEmptyIsAnArray(t *testing.T) {
	var buf bytes.Buffer
	if err := printJSONList[reconcile.ReplicaStatus](&buf, nil); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "[]\n" {
		t.Fatalf("nil list printed %q, want %q", got, "[]\n")
	}
}

func TestPrintJSONListIndents(t *testing.T) {
	var buf bytes.Buffer
	list := []reconcile.DeploymentStatus{{Name: "web"}}
	if err := printJSONList(&buf, list); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !bytes.HasPrefix(buf.Bytes(), []byte("[\n  {\n    \"")) || !bytes.Contains(buf.Bytes(), []byte(`"web"`)) {
		t.Fatalf("printed %q, want an indented array holding web", got)
	}
}
