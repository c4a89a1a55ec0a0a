package apitypes

import "time"

var sampleRun = func() Run {
	at := time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)
	code := 1
	return Run{N: 4, SpecHash: "a1b2c3d4e5f6", Trigger: RunTriggerSchedule, State: RunFailed, Tick: at,
		Started: at.Add(time.Second), Ended: at.Add(time.Minute), ExitCode: &code, Restarts: 2, Message: "gave up after 2 restarts"}
}()

// runSamples are the run wire types' golden samples (see filled).
func runSamples() map[string]any {
	return map[string]any{
		"Run": sampleRun,
		"RunList": RunList{Deployment: "shop", Service: "report", Rtype: "cron", Schedule: "@hourly",
			Next: sampleRun.Tick.Add(time.Hour), Runs: []Run{sampleRun}},
		"RunStates":   []RunState{RunPending, RunRunning, RunSucceeded, RunFailed, RunSkipped, RunStopped, RunLost},
		"RunTriggers": []RunTrigger{RunTriggerDeploy, RunTriggerSchedule, RunTriggerManual},
	}
}
