package api

import (
	"testing"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// TestLastRun: what a status through a server says of runs another node
// keeps: the newest run that is not a skip, on the job's current spec;
// any spec for a cron service.
func TestLastRun(t *testing.T) {
	d, err := spec.Parse("x.yaml", []byte("version: v1\ndeployment: d\nservices:\n  j:\n    rtype: job\n    image: busybox\n  c:\n    rtype: cron\n    schedule: '@hourly'\n    image: busybox\n"))
	if err != nil {
		t.Fatal(err)
	}
	job, cron := d.Services["j"], d.Services["c"]
	list := &apitypes.RunList{Rtype: "job", Runs: []apitypes.Run{
		{N: 3, SpecHash: "old", State: apitypes.RunFailed},
		{N: 2, SpecHash: job.Hash(), State: apitypes.RunSkipped},
		{N: 1, SpecHash: job.Hash(), State: apitypes.RunSucceeded},
	}}
	if sr := lastRun(job, list); sr.Last == nil || sr.Last.N != 1 || sr.Rtype != "job" {
		t.Errorf("job: %+v", sr)
	}
	list.Rtype, list.Schedule = "cron", "@hourly"
	if sr := lastRun(cron, list); sr.Last == nil || sr.Last.N != 3 || sr.Schedule != "@hourly" {
		t.Errorf("cron: %+v", sr)
	}
	if sr := lastRun(job, &apitypes.RunList{}); sr.Last != nil {
		t.Errorf("no runs: %+v", sr.Last)
	}
}
