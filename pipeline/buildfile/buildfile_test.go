package buildfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir string, files ...string) {
	for _, f := range files {
		body := "FROM busybox\n"
		if strings.HasPrefix(f, "ZImagefile") {
			body = "version: \"1\"\nbase: busybox\n"
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindOrder(t *testing.T) {
	cases := []struct {
		files []string
		want  string
		err   string
	}{
		{[]string{"Dockerfile", "ZImagefile", "ZImagefile.web"}, "ZImagefile", ""},
		{[]string{"Dockerfile", "ZImagefile.web"}, "ZImagefile.web", ""},
		{[]string{"Dockerfile", "ZImagefile.web", "ZImagefile.api"}, "", "several ZImagefiles in"},
		{[]string{"Dockerfile"}, "Dockerfile", ""},
		{nil, "", "no build file in"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		write(t, dir, c.files...)
		f, err := Find(dir, "")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: error %v, want %q", c.files, err, c.err)
			}
			if c.err == "several ZImagefiles in" && !strings.Contains(err.Error(), "ZImagefile.api, ZImagefile.web") {
				t.Errorf("error does not name the candidates: %v", err)
			}
			continue
		}
		if err != nil || filepath.Base(f.Path) != c.want {
			t.Errorf("%v: got %v %v, want %s", c.files, f, err, c.want)
		}
	}
}

func TestFindExplicit(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "Dockerfile")
	if _, err := Find(dir, filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing -f: %v", err)
	}
	if _, err := Find(dir, dir); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("-f folder: %v", err)
	}
}

func TestDetectByContent(t *testing.T) {
	cases := map[string]Kind{
		"FROM busybox\nRUN true\n":                  Dockerfile,
		"# syntax=docker/dockerfile:1\nFROM x\n":    Dockerfile,
		"\n# comment\nARG V=1\nFROM x:${V}\n":       Dockerfile,
		"from busybox\n":                            Dockerfile,
		"version: \"1\"\nbase: busybox\n":           ZImagefile,
		"# syntax=zlayer/zimagefile\nstages:\n  a:": ZImagefile,
		"---\nbase: alpine\nsteps: []\n":            ZImagefile,
		"":                                          Dockerfile,
	}
	for body, want := range cases {
		if got := Detect([]byte(body)); got != want {
			t.Errorf("Detect(%q) = %v, want %v", body, got, want)
		}
	}
}

func TestSyntax(t *testing.T) {
	cases := map[string]string{
		"# syntax=zlayer/zimagefile\nbase: x\n":     "zlayer/zimagefile",
		"#syntax = docker/dockerfile:1.7\nFROM x\n": "docker/dockerfile:1.7",
		"# check=skip=all\n# syntax=a/b\nFROM x\n":  "a/b",
		"FROM x\n# syntax=late\n":                   "",
		"base: x\n":                                 "",
	}
	for body, want := range cases {
		if got := Syntax([]byte(body)); got != want {
			t.Errorf("Syntax(%q) = %q, want %q", body, got, want)
		}
	}
}
