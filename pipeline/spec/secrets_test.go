package spec

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/pipeline/buildsecret"
)

func TestImageSecretsAndSSH(t *testing.T) {
	dir := tree(t, map[string]string{"ZImagefile": "base: a\n", "secrets/npmrc": "x"})
	src := `vars:
  TOKEN_VAR: NPM_TOKEN
images:
  app:
    file: ZImagefile
    secrets:
      - {id: npmrc, src: secrets/npmrc}
      - {id: token, env: "${TOKEN_VAR}"}
      - "id=abs,src=` + filepath.Join(dir, "secrets/npmrc") + `"
    ssh: [default, gh=agent.sock]
`
	pl, err := Parse(filepath.Join(dir, "ZPipeline.yaml"), []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	im := pl.Image("app")
	want := []buildsecret.Secret{
		{ID: "npmrc", Src: filepath.Join(dir, "secrets/npmrc")},
		{ID: "token", Env: "NPM_TOKEN"},
		{ID: "abs", Src: filepath.Join(dir, "secrets/npmrc")},
	}
	if !reflect.DeepEqual(im.Secrets, want) {
		t.Errorf("secrets %+v\nwant %+v", im.Secrets, want)
	}
	wantSSH := []buildsecret.SSH{{ID: "default"}, {ID: "gh", Paths: []string{filepath.Join(dir, "agent.sock")}}}
	if !reflect.DeepEqual(im.SSH, wantSSH) {
		t.Errorf("ssh %+v, want %+v", im.SSH, wantSSH)
	}
}

func TestImageSecretErrors(t *testing.T) {
	dir := tree(t, map[string]string{"ZImagefile": "base: a\n"})
	img := "images:\n  app:\n    file: ZImagefile\n"
	var many []string
	for i := range MaxSecrets + 1 {
		many = append(many, fmt.Sprintf("{id: s%d, env: E}", i))
	}
	cases := map[string]struct{ src, want string }{
		"no id":          {img + "    secrets: [{src: f}]\n", "4:15: image app: secret needs id:"},
		"src and env":    {img + "    secrets: [{id: a, src: f, env: B}]\n", "4:15: image app: secret \"id=a,src=f,env=B\": give src= (a file) or env= (a variable), not both"},
		"missing file":   {img + "    secrets: [{id: a, src: nope}]\n", "4:28: image app: secret a: " + filepath.Join(dir, "nope") + " is not a file"},
		"unknown key":    {img + "    secrets: [{id: a, path: f}]\n", `4:23: unknown key "path" in secret`},
		"bad string":     {img + "    secrets: [\"src=f\"]\n", `4:15: image app: secret "src=f": id= is required`},
		"duplicate":      {img + "    secrets: [{id: a, env: A}, \"id=a,env=B\"]\n", `4:32: image app: secret "a" is given twice (first at line 4)`},
		"not a secret":   {img + "    secrets: [[a]]\n", "4:15: image app: a secret is"},
		"too many":       {img + "    secrets: [" + strings.Join(many, ", ") + "]\n", fmt.Sprintf("secrets: at most %d entries", MaxSecrets)},
		"ssh empty id":   {img + "    ssh: [\"=/s\"]\n", `4:11: image app: ssh "=/s"`},
		"ssh duplicate":  {img + "    ssh: [default, default=/s]\n", `4:20: image app: ssh agent "default" is given twice`},
		"ssh not string": {img + "    ssh: [{id: a}]\n", "4:11: image app: an ssh entry is"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(filepath.Join(dir, "ZPipeline.yaml"), []byte(tc.src), nil)
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
