package imagebuild

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bkclient "github.com/moby/buildkit/client"

	"github.com/zlayer/zlayer/pipeline/buildfile"
)

func dir(t *testing.T, files map[string]string) string {
	d := t.TempDir()
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(d, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestResolveZImagefileGetsFrontend(t *testing.T) {
	d := dir(t, map[string]string{"ZImagefile": "base: busybox\n", "Dockerfile": "FROM x\n"})
	t.Setenv("ZLAYER_FRONTEND", "")
	p, err := Resolve(Options{Context: d, BuildArgs: []string{"A=1", "B=x=y"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.File.Kind != buildfile.ZImagefile || p.Args["BUILDKIT_SYNTAX"] != "zlayer/zimagefile" || p.Args["B"] != "x=y" {
		t.Errorf("plan %+v args %v", p.File.Path, p.Args)
	}
	p, _ = Resolve(Options{Context: d, Frontend: "reg/fe:2"})
	if p.Args["BUILDKIT_SYNTAX"] != "reg/fe:2" {
		t.Errorf("--frontend ignored: %v", p.Args)
	}
	p, _ = Resolve(Options{Context: d, BuildArgs: []string{"BUILDKIT_SYNTAX=mine"}})
	if p.Args["BUILDKIT_SYNTAX"] != "mine" {
		t.Errorf("user's BUILDKIT_SYNTAX overridden: %v", p.Args)
	}
}

func TestResolveDockerfileAndSyntaxLine(t *testing.T) {
	d := dir(t, map[string]string{"Dockerfile": "FROM x\n", "Z": "# syntax=other/fe\nbase: x\n"})
	p, err := Resolve(Options{Context: d})
	if err != nil || p.File.Kind != buildfile.Dockerfile || len(p.Args) != 0 {
		t.Fatalf("%v %v", p, err)
	}
	p, err = Resolve(Options{Context: d, File: filepath.Join(d, "Z")})
	if err != nil || p.File.Kind != buildfile.ZImagefile || p.Args["BUILDKIT_SYNTAX"] != "" {
		t.Errorf("a syntax line must win: %v %v", p.Args, err)
	}
}

func TestResolveBuildArgFromEnvironment(t *testing.T) {
	d := dir(t, map[string]string{"Dockerfile": "FROM x\n"})
	t.Setenv("FROM_ENV", "v")
	p, err := Resolve(Options{Context: d, BuildArgs: []string{"FROM_ENV", "UNSET_HERE_XYZ"}})
	if err != nil || p.Args["FROM_ENV"] != "v" {
		t.Errorf("%v %v", p.Args, err)
	}
	if _, ok := p.Args["UNSET_HERE_XYZ"]; ok {
		t.Error("an unset bare build arg was passed")
	}
	if _, err := Resolve(Options{Context: d, BuildArgs: []string{"=v"}}); err == nil {
		t.Error("--build-arg =v accepted")
	}
}

func TestResolveRuntime(t *testing.T) {
	d := dir(t, map[string]string{"go.mod": "module x\n"})
	p, err := Resolve(Options{Context: d, Runtime: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Cleanup()
	if !strings.Contains(string(p.File.Data), "runtime: go") || strings.HasPrefix(p.File.Path, d) {
		t.Errorf("runtime file %s:\n%s", p.File.Path, p.File.Data)
	}
	if _, err := Resolve(Options{Context: d, Runtime: "go", File: "x"}); err == nil {
		t.Error("--runtime with -f accepted")
	}
	if _, err := Resolve(Options{Context: t.TempDir(), Runtime: "auto"}); err == nil {
		t.Error("auto runtime in an empty folder accepted")
	}
}

func TestExports(t *testing.T) {
	var stdout bytes.Buffer
	cases := []struct {
		o    Options
		typ  string
		want map[string]string
		err  string
	}{
		{Options{Tags: []string{"r/a:1", "r/a:2"}, Push: true}, bkclient.ExporterImage, map[string]string{"name": "r/a:1,r/a:2", "push": "true"}, ""},
		{Options{Tags: []string{"r/a:1"}, Outputs: []string{"type=oci,dest=out.tar"}}, bkclient.ExporterOCI, map[string]string{"name": "r/a:1"}, ""},
		{Options{Outputs: []string{"type=registry"}, Tags: []string{"r/a"}}, bkclient.ExporterImage, map[string]string{"name": "r/a", "push": "true"}, ""},
		{Options{Outputs: []string{"outdir"}}, bkclient.ExporterLocal, map[string]string{}, ""},
		{Options{Outputs: []string{"type=oci"}}, "", nil, "needs dest="},
		{Options{Outputs: []string{"type=nope,dest=x"}}, "", nil, "unknown type"},
		{Options{Push: true}, "", nil, "needs an image name"},
	}
	for _, c := range cases {
		c.o.Stdout = &stdout
		ex, err := Exports(c.o)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: err %v, want %q", c.o.Outputs, err, c.err)
			}
			continue
		}
		if err != nil || len(ex) != 1 || ex[0].Type != c.typ {
			t.Errorf("%+v: %+v %v", c.o, ex, err)
			continue
		}
		for k, v := range c.want {
			if ex[0].Attrs[k] != v {
				t.Errorf("%+v: attr %s = %q, want %q", c.o, k, ex[0].Attrs[k], v)
			}
		}
	}
	ex, _ := Exports(Options{Outputs: []string{"type=oci,dest=d,tar=false"}})
	if ex[0].OutputDir != "d" || ex[0].Output != nil {
		t.Errorf("oci tar=false should export to a folder: %+v", ex[0])
	}
}

func TestResolveSecretsAndSSH(t *testing.T) {
	d := dir(t, map[string]string{"Dockerfile": "FROM x\n"})
	p, err := Resolve(Options{Context: d, Secrets: []string{"id=a,src=/f", "id=b,env=B"}, SSH: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Secrets) != 2 || p.Secrets[1].Env != "B" || len(p.SSH) != 1 || p.SSH[0].ID != "default" {
		t.Errorf("secrets %+v ssh %+v", p.Secrets, p.SSH)
	}
	// Secrets are never build args: nothing of them may reach the image.
	if len(p.Args) != 0 {
		t.Errorf("args %v", p.Args)
	}
	for _, o := range []Options{
		{Context: d, Secrets: []string{"src=/f"}},
		{Context: d, Secrets: []string{"id=a,src=/f", "id=a,env=X"}},
		{Context: d, SSH: []string{"=/sock"}},
	} {
		if _, err := Resolve(o); err == nil || !strings.Contains(err.Error(), "--secret/--ssh") {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
