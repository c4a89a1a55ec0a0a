package zimagefile

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseRunSecretsAndSSH(t *testing.T) {
	src := `base: alpine
steps:
  - run: make
    secrets:
      - {id: npmrc, target: /root/.npmrc, required: true}
      - {id: token, env: API_TOKEN}
      - id: plain
    ssh: [default, {id: github, target: /run/gh.sock, required: true}]
`
	f, err := Parse("ZImagefile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Steps[0]
	if len(s.Secrets) != 3 || len(s.SSH) != 2 {
		t.Fatalf("secrets %d ssh %d", len(s.Secrets), len(s.SSH))
	}
	if m := s.Secrets[0]; m.ID != "npmrc" || m.Target != "/root/.npmrc" || !m.Required || m.Env != "" {
		t.Errorf("secret 0: %+v", m)
	}
	if m := s.Secrets[1]; m.ID != "token" || m.Env != "API_TOKEN" || m.Required || m.Target != "" {
		t.Errorf("secret 1: %+v", m)
	}
	if m := s.Secrets[2]; m.ID != "plain" || m.Range.Start.Line != 7 {
		t.Errorf("secret 2: %+v", m)
	}
	if m := s.SSH[0]; m.ID != "default" || m.Target != "" || m.Required {
		t.Errorf("ssh 0: %+v", m)
	}
	if m := s.SSH[1]; m.ID != "github" || m.Target != "/run/gh.sock" || !m.Required {
		t.Errorf("ssh 1: %+v", m)
	}
}

func TestParseRunSecretsErrors(t *testing.T) {
	run := "base: a\nsteps:\n  - run: x\n"
	var many []string
	for i := range MaxSecretsPerStep + 1 {
		many = append(many, fmt.Sprintf("{id: s%d}", i))
	}
	cases := []errCase{
		{"secrets on copy", "base: a\nsteps:\n  - copy: x\n    to: /y\n    secrets: [{id: a}]\n", []string{"5:5: secrets: only applies to run steps"}},
		{"ssh on user", "base: a\nsteps:\n  - user: app\n    ssh: [default]\n", []string{"4:5: ssh: only applies to run steps"}},
		{"not a list", run + "    secrets: {id: a}\n", []string{"4:14: secrets must be a list of {id, target | env, required}, not a mapping"}},
		{"no id", run + "    secrets: [{target: /a}]\n", []string{"4:15: secret needs id"}},
		{"bad id", run + "    secrets: [{id: \"a/b\"}]\n", []string{`4:20: secret id: "a/b" is not an id`}},
		{"relative target", run + "    secrets: [{id: a, target: run/a}]\n", []string{`4:31: secret target: "run/a" is not an absolute path`}},
		{"comma target", run + "    secrets: [{id: a, target: \"/a,b\"}]\n", []string{`4:31: secret target: "/a,b" is not an absolute path`}},
		{"root target", run + "    secrets: [{id: a, target: /}]\n", []string{"4:31: secret target must not be /"}},
		{"bad env", run + "    secrets: [{id: a, env: 1TOKEN}]\n", []string{`4:28: secret env: "1TOKEN" is not a variable name`}},
		{"target and env", run + "    secrets: [{id: a, target: /a, env: A}]\n", []string{`4:35: secret "a": set target (a file) or env (a variable), not both`}},
		{"duplicate id", run + "    secrets:\n      - {id: a}\n      - {id: a, env: A}\n", []string{`6:14: secret "a" is mounted twice in this step (first at line 5)`}},
		{"unknown key", run + "    secrets: [{id: a, src: /x}]\n", []string{`4:23: unknown key "src" in secret`}},
		{"required not bool", run + "    secrets: [{id: a, required: yes please}]\n", []string{"4:33: secret required must be true or false"}},
		{"too many", run + "    secrets: [" + strings.Join(many, ", ") + "]\n", []string{fmt.Sprintf("4:357: secrets: at most %d entries per run step", MaxSecretsPerStep)}},
		{"env clash", run + "    env: {TOKEN: x}\n    secrets: [{id: a, env: TOKEN}]\n", []string{`5:28: secret "a": env TOKEN is also set by this step's env:`}},
		{"ssh not a list", run + "    ssh: default\n", []string{"4:10: ssh must be a list of agent ids or {id, target, required}, not a string"}},
		{"ssh bad id", run + "    ssh: [\"my agent\"]\n", []string{`4:11: ssh id must not contain spaces`}},
		{"ssh duplicate default", run + "    ssh: [default, {target: /s}]\n", []string{`4:20: ssh agent "default" is mounted twice in this step (first at line 4)`}},
		{"ssh relative target", run + "    ssh: [{id: gh, target: s.sock}]\n", []string{`4:28: ssh target: "s.sock" is not an absolute path`}},
		{"ssh unknown key", run + "    ssh: [{id: gh, env: X}]\n", []string{`4:20: unknown key "env" in ssh mount`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, tc.src, tc.want)
		})
	}
}
