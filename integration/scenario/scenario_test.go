package scenario_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/integration/scenario"
)

// story records which steps ran, in order, on the one fixture.
type story struct{ ran []string }

func step(name string, then func(t *testing.T)) scenario.Step[*story] {
	return scenario.Step[*story]{Name: name, Run: func(t *testing.T, fx *story) {
		fx.ran = append(fx.ran, name)
		then(t)
	}}
}

func nothing(*testing.T) {}

func TestRunKeepsOrderOnOneFixture(t *testing.T) {
	fx := &story{}
	scenario.Run(t, fx, []scenario.Step[*story]{step("a", nothing), step("b", nothing), step("c", nothing)})
	if got := strings.Join(fx.ran, ","); got != "a,b,c" {
		t.Errorf("steps ran as %q, want a,b,c", got)
	}
}

func TestEachRunsEveryTestOnOneFixture(t *testing.T) {
	fx := &story{}
	scenario.Each(t, fx, []scenario.Step[*story]{step("a", nothing), step("b", nothing)})
	if got := strings.Join(fx.ran, ","); got != "a,b" {
		t.Errorf("tests ran as %q, want a,b", got)
	}
}

// TestHelperStory is the story the tests below run in a child test binary,
// where its failure cannot fail them; it does nothing in a normal run.
func TestHelperStory(t *testing.T) {
	if os.Getenv("SCENARIO_HELPER") == "" {
		t.Skip("run by TestRunStopsAtAFatalStep and TestRunFilteredStepIsSetup")
	}
	fx := &story{}
	t.Cleanup(func() { t.Logf("ran=%s", strings.Join(fx.ran, ",")) })
	scenario.Run(t, fx, []scenario.Step[*story]{
		step("deploy", nothing),
		step("check", nothing),
		step("break", func(t *testing.T) { t.Fatal("stopped") }),
		step("after", nothing),
	})
}

// child runs TestHelperStory with -run pattern and returns its output.
func child(t *testing.T, pattern string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", pattern, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "SCENARIO_HELPER=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestRunStopsAtAFatalStep(t *testing.T) {
	out, err := child(t, "^TestHelperStory$")
	if err == nil {
		t.Fatalf("a story with a fatal step passed:\n%s", out)
	}
	if !strings.Contains(out, "ran=deploy,check,break\n") {
		t.Errorf("want the steps up to the fatal one and none after:\n%s", out)
	}
	if !strings.Contains(out, "--- FAIL: TestHelperStory/break") {
		t.Errorf("the failure is not reported under the step's name:\n%s", out)
	}
}

func TestRunFilteredStepIsSetup(t *testing.T) {
	out, err := child(t, "^TestHelperStory$/^check$")
	if err == nil {
		t.Fatalf("the fatal step, run as setup, did not fail the story:\n%s", out)
	}
	if !strings.Contains(out, "ran=deploy,check,break\n") {
		t.Errorf("want deploy run as setup before check, and the story stopped at break:\n%s", out)
	}
	if !strings.Contains(out, "--- PASS: TestHelperStory/check") || strings.Contains(out, "TestHelperStory/deploy") {
		t.Errorf("want only the selected step reported as a subtest:\n%s", out)
	}
}
