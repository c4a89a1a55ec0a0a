package main

import (
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// A dry run has no node to ask, so a service without network_mode shows
// that the node decides, not a mode some node might not give it.
func TestDryRunPlanLeavesNetworkToTheNode(t *testing.T) {
	src := "version: v1\ndeployment: shop\nservices:\n" +
		"  web:\n    image: nginx\n    depends:\n      - service: db\n        condition: started\n" +
		"  db:\n    image: postgres\n    network_mode: bridge\n    scale: {replicas: 2}\n"
	d, err := spec.ParseWith("shop.yaml", []byte(src), spec.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printPlan(&out, "shop.yaml", d)
	want := "shop.yaml: valid; deployment shop:\n" +
		"  db: postgres, 2 replica(s), network bridge\n" +
		"  web: nginx, 1 replica(s), network default (node decides), after db (started)\n"
	if out.String() != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", out.String(), want)
	}
}
