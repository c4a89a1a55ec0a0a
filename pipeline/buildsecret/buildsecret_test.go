package buildsecret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSecret(t *testing.T) {
	cases := []struct {
		spec string
		want Secret
	}{
		{"id=npm,src=/home/me/.npmrc", Secret{ID: "npm", Src: "/home/me/.npmrc"}},
		{"id=tok,env=API_TOKEN", Secret{ID: "tok", Env: "API_TOKEN"}},
		{"type=env,id=tok,src=API_TOKEN", Secret{ID: "tok", Env: "API_TOKEN"}},
		{"id=x,source=f", Secret{ID: "x", Src: "f"}},
		{"id=bare", Secret{ID: "bare"}},
		{`id=c,"src=/a,b"`, Secret{ID: "c", Src: "/a,b"}},
	}
	for _, tc := range cases {
		got, err := ParseSecret(tc.spec)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.spec, got, err, tc.want)
			continue
		}
		// What Spec writes reads back the same, so buildx sees what we saw.
		again, err := ParseSecret(got.Spec())
		if err != nil || again != got {
			t.Errorf("%q: Spec %q reads back as %+v, %v", tc.spec, got.Spec(), again, err)
		}
	}
	for spec, want := range map[string]string{
		"src=/f":                 "id= is required",
		"id=a,src=/f,env=B":      "not both",
		"id=a,path=/f":           `unknown key "path"`,
		"id=a,type=vault":        `type "vault" is not file or env`,
		"id=a/b,src=f":           "must not contain",
		"id=a,justaword":         "is not KEY=VALUE",
		`id=a,src="unterminated`: "secret",
	} {
		_, err := ParseSecret(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to say %q", spec, err, want)
		}
	}
}

func TestParseSSH(t *testing.T) {
	for spec, want := range map[string]SSH{
		"default":              {ID: "default"},
		"gh=/run/agent.sock":   {ID: "gh", Paths: []string{"/run/agent.sock"}},
		"keys=/k/id_a,/k/id_b": {ID: "keys", Paths: []string{"/k/id_a", "/k/id_b"}},
	} {
		got, err := ParseSSH(spec)
		if err != nil || got.ID != want.ID || strings.Join(got.Paths, "|") != strings.Join(want.Paths, "|") {
			t.Errorf("%q: got %+v, %v; want %+v", spec, got, err, want)
		}
		if got.Spec() != spec {
			t.Errorf("%q: Spec %q", spec, got.Spec())
		}
	}
	for _, spec := range []string{"", "=/sock", "gh=", "gh=/a,,/b", "my agent"} {
		if _, err := ParseSSH(spec); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
}

func TestParseAllRefusesDuplicates(t *testing.T) {
	if _, _, err := ParseAll([]string{"id=a,src=x", "id=a,env=Y"}, nil); err == nil || !strings.Contains(err.Error(), `secret "a" is given twice`) {
		t.Errorf("duplicate secret: %v", err)
	}
	if _, _, err := ParseAll(nil, []string{"default", "default=/s"}); err == nil || !strings.Contains(err.Error(), `ssh agent "default" is given twice`) {
		t.Errorf("duplicate agent: %v", err)
	}
	secs, agents, err := ParseAll([]string{"id=a,src=x"}, []string{"default"})
	if err != nil || len(secs) != 1 || len(agents) != 1 {
		t.Errorf("%v %v %v", secs, agents, err)
	}
}

// TestAttachablesChecksSources accepts a file and a set variable, and
// refuses sources that cannot give a value before the build starts.
func TestAttachablesChecksSources(t *testing.T) {
	f := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(f, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BUILDSECRET_TEST_VALUE", "from-env")
	as, err := Attachables([]Secret{{ID: "f", Src: f}, {ID: "e", Env: "BUILDSECRET_TEST_VALUE"}}, nil)
	if err != nil || len(as) != 1 {
		t.Fatalf("%d attachables, %v", len(as), err)
	}
	if _, err := Attachables([]Secret{{ID: "gone", Src: filepath.Join(t.TempDir(), "missing")}}, nil); err == nil {
		t.Error("a missing secret file is accepted")
	}
	if _, err := Attachables([]Secret{{ID: "e", Env: "BUILDSECRET_TEST_UNSET_XYZ"}}, nil); err == nil || !strings.Contains(err.Error(), "BUILDSECRET_TEST_UNSET_XYZ is not set") {
		t.Errorf("unset variable: %v", err)
	}
	if _, err := Attachables(nil, []SSH{{ID: "default", Paths: []string{filepath.Join(t.TempDir(), "no-agent.sock")}}}); err == nil {
		t.Error("an agent socket that does not exist is accepted")
	}
}
