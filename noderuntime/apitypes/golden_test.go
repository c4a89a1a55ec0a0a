package apitypes

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the types")

func filled() map[string]any {
	yes := true
	three, exit := 3, 137
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	replica := ReplicaStatus{
		ID: "shop-web-1-abc", Deployment: "shop", Service: "web", Replica: 1, State: ReplicaReady,
		Healthy: &yes, Restarts: 2, LastExit: &ExitInfo{Code: 137, At: at, Signal: 9, OOMKilled: true},
		PID: 4242, Image: "docker.io/library/busybox:latest", ImageDigest: "sha256:0123", SpecHash: "a1b2c3d4e5f6",
		Current: true, StartedAt: at.Add(time.Second), Message: "health check passed", Address: "10.210.0.2", Node: "s1",
	}
	return map[string]any{
		"Error": Error{Code: "invalid_spec", Message: "x.yaml:6:23: services.web.scale.replicas: -2 is below 0",
			Errors: []SpecError{{File: "x.yaml", Line: 6, Column: 23, Path: "services.web.scale.replicas", Msg: "-2 is below 0"}}},
		"ApplyRequest":  ApplyRequest{File: "shop.yaml", Spec: "version: v1\n"},
		"ScaleRequest":  ScaleRequest{Replicas: &three},
		"ExecRequest":   ExecRequest{Command: []string{"sh", "-c", "echo hi"}, Replica: 2, TTY: true, Size: &TermSize{Cols: 80, Rows: 24}},
		"TermSize":      TermSize{Cols: 132, Rows: 43},
		"ExecFrame":     ExecFrame{Stream: StreamStderr, Data: "hi\n", ExitCode: &exit, Error: "killed"},
		"LogEntry":      LogEntry{Replica: 1, ID: "shop-web-1-abc", Time: at, Stream: StreamStdout, Log: "hello", Partial: true},
		"ReplicaStatus": replica,
		"DeploymentStatus": DeploymentStatus{Name: "shop", Generation: 7, UpdatedAt: at, Ready: true, Services: []ServiceStatus{{Name: "web", Desired: 1, Ready: 1, State: ServiceReady, Message: "waiting for db", Replicas: []ReplicaStatus{replica},
			Runs: &ServiceRuns{Rtype: "cron", Schedule: "*/5 * * * *", Next: at.Add(5 * time.Minute), Last: &sampleRun}}},
			Rollout: &RolloutStatus{State: RolloutRolledBack, Service: "web", Message: "rolled back", From: 7, To: 5, Auto: true}},
		"Generation": Generation{Generation: 8, At: at, SpecHash: "0a1b2c3d4e5f", Cause: CauseRollback, By: "node", Current: true,
			RolledBack: &RolledBackGen{From: 7, To: 5, Reason: "replica 1 of web was not ready within 30s", Auto: true}},
		"RollbackRequest":  RollbackRequest{To: 5},
		"RolloutStates":    []RolloutState{RolloutPaused, RolloutRolledBack},
		"GenerationCauses": []GenerationCause{CauseDeploy, CauseScale, CauseRollback, CauseRestart, CauseSecret},
		"Deleted":          Deleted{Deleted: "shop"},
		"ImportedImage":    ImportedImage{Name: "docker.io/library/app:1", Digest: "sha256:4567"},
		"Health":           Health{Status: "ready"},
		"JoinRequest": JoinRequest{Token: "ZL10abc::agent.abcdef.secret", CSR: "-----BEGIN CERTIFICATE REQUEST-----\n", Name: "node-2",
			Role: "agent", Address: "10.0.0.2", Labels: map[string]string{"zone": "a"}, PeerURL: "https://10.0.0.2:2380", NetworkMode: "wireguard"},
		"JoinResponse": JoinResponse{Certificate: "-----BEGIN CERTIFICATE-----\n", CA: "-----BEGIN CERTIFICATE-----\n",
			CAKey: "-----BEGIN PRIVATE KEY-----\n", Servers: []string{"https://10.0.0.1:3669"},
			Etcd:    &EtcdJoin{MemberID: 0xfedcba9876543210, InitialCluster: "node-1=https://10.0.0.1:2380,node-2=https://10.0.0.2:2380", Endpoints: []string{"https://10.0.0.1:2379"}},
			Secrets: map[string]string{"api_admin_token": "0123"}, Subnet: "10.244.1.0/24"},
		"JoinCodes": []string{JoinTokenMalformed, JoinTokenUnknown, JoinTokenRevoked, JoinTokenExpired, JoinTokenWrongRole,
			JoinTokenCAMismatch, JoinNameTaken, JoinBusy, JoinNetworkMismatch},
		// The state words are wire values too.
		"ReplicaStates": []ReplicaState{ReplicaCreating, ReplicaRunning, ReplicaReady, ReplicaUnhealthy, ReplicaExited,
			ReplicaRestarting, ReplicaCrashLoop, ReplicaFailed, ReplicaStopping, ReplicaUnknown},
		"ServiceStates": []ServiceState{ServiceReady, ServiceProgressing, ServiceWaiting, ServiceCrashLoop, ServiceFailed},
	}
}

// TestGolden pins the JSON of each wire type: a renamed field, a changed
// tag or state word fails here, where a change of the API is meant to be
// seen, and not in a client in the field.
func TestGolden(t *testing.T) {
	samples := filled()
	maps.Copy(samples, imageSamples())
	maps.Copy(samples, secretSamples())
	maps.Copy(samples, runSamples())
	checkGolden(t, samples)
}

func checkGolden(t *testing.T, samples map[string]any) {
	for name, v := range samples {
		t.Run(name, func(t *testing.T) {
			if path := emptyField(reflect.ValueOf(v), name); path != "" {
				t.Fatalf("%s is zero in the sample: the golden JSON would not show it", path)
			}
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			file := filepath.Join("testdata", name+".json")
			want, err := os.ReadFile(file)
			if *update && !bytes.Equal(got, want) {
				want, err = got, os.WriteFile(file, got, 0o644)
			}
			switch {
			case err != nil:
				t.Fatalf("%v (go test -run TestGolden -update writes it)", err)
			case !bytes.Equal(got, want):
				t.Fatalf("the JSON of %s changed; this changes the node API.\ngot:\n%s\nwant (%s):\n%s", name, got, file, want)
			}
			// Decoding reads every field back: a tag that only the encoder
			// would notice is not enough.
			back := reflect.New(reflect.TypeOf(v))
			if err := json.Unmarshal(want, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), v) {
				t.Fatalf("%s does not decode back:\n%#v\nwant\n%#v", file, back.Elem().Interface(), v)
			}
		})
	}
}

// emptyField names the first zero field (or empty list) in v, walking
// into structs, pointers and slices.
func emptyField(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return path
		}
		return emptyField(v.Elem(), path)
	case reflect.Slice:
		if v.Len() == 0 {
			return path
		}
		for i := range v.Len() {
			if p := emptyField(v.Index(i), path); p != "" {
				return p
			}
		}
		return ""
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			if v.IsZero() {
				return path
			}
			return ""
		}
		for i := range v.NumField() {
			if p := emptyField(v.Field(i), path+"."+v.Type().Field(i).Name); p != "" {
				return p
			}
		}
		return ""
	}
	if v.IsZero() {
		return path
	}
	return ""
}

func TestStuck(t *testing.T) {
	for s, want := range map[ServiceState]bool{ServiceFailed: true, ServiceCrashLoop: true, ServiceReady: false, ServiceProgressing: false, ServiceWaiting: false} {
		if s.Stuck() != want {
			t.Errorf("%s stuck = %v", s, !want)
		}
	}
}
