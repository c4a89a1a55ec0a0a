package api

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Every field of the controller's status reaches the wire form, under its
// own meaning.
func TestWireDeployment(t *testing.T) {
	yes := true
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rs := reconcile.ReplicaStatus{ID: "app-web-1", Deployment: "app", Service: "web", Replica: 1, State: reconcile.StateCrashLoop,
		Healthy: &yes, Restarts: 4, LastExit: &reconcile.ExitInfo{Code: 1, At: at, Signal: 15, OOMKilled: true}, PID: 9,
		Image: "busybox", ImageDigest: "sha256:1", SpecHash: "abc", Current: true, StartedAt: at.Add(time.Minute),
		Message: "exited 1", Address: "10.0.0.2"}
	got := wireDeployment(reconcile.DeploymentStatus{Name: "app", Generation: 3, UpdatedAt: at, Ready: false,
		Services: []reconcile.ServiceStatus{{Name: "web", Desired: 2, Ready: 1, State: apitypes.ServiceCrashLoop, Message: "m", Replicas: []reconcile.ReplicaStatus{rs}}}})
	want := apitypes.DeploymentStatus{Name: "app", Generation: 3, UpdatedAt: at, Ready: false,
		Services: []apitypes.ServiceStatus{{Name: "web", Desired: 2, Ready: 1, State: apitypes.ServiceCrashLoop, Message: "m", Replicas: []apitypes.ReplicaStatus{{
			ID: "app-web-1", Deployment: "app", Service: "web", Replica: 1, State: apitypes.ReplicaCrashLoop,
			Healthy: &yes, Restarts: 4, LastExit: &apitypes.ExitInfo{Code: 1, At: at, Signal: 15, OOMKilled: true}, PID: 9,
			Image: "busybox", ImageDigest: "sha256:1", SpecHash: "abc", Current: true, StartedAt: at.Add(time.Minute),
			Message: "exited 1", Address: "10.0.0.2"}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("wire form\n%+v\nwant\n%+v", got, want)
	}
	// A service without replicas and a node without any stay JSON null,
	// as the API has always answered.
	if b, _ := json.Marshal(wireReplicas(nil)); string(b) != "null" {
		t.Errorf("no replicas: %s", b)
	}
	if b, _ := json.Marshal(wireImages(nil)); string(b) != "null" {
		t.Errorf("no images: %s", b)
	}
}

// An invalid spec's errors keep their wire names and positions.
func TestWireSpecErrors(t *testing.T) {
	_, err := spec.Parse("x.yaml", []byte("version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n    oops: 1\n"))
	var es spec.Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("parse: %v", err)
	}
	b, _ := json.Marshal(wireSpecErrors(es))
	for _, w := range []string{`"File":"x.yaml"`, `"Line":6`, `"Column":5`, `"Path":"services.web.oops"`, `"Msg":`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("missing %s in %s", w, b)
		}
	}
}
