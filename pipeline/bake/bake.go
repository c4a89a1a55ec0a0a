// Package bake turns a pipeline into `docker buildx bake` definitions (JSON).
//
// Two shapes come out of one generator. The printed shape holds every image,
// and a dependent names its dependency as a "target:" context, so that file
// alone builds the whole pipeline in one bake call. The run shape holds one
// image whose dependencies are already built: their OCI layouts from this run
// are its "oci-layout://" contexts, so a dependent always builds on what this
// run produced and never on a registry copy, and nothing is pushed to get it.
package bake

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zlayer/zlayer/pipeline/buildfile"
	"github.com/zlayer/zlayer/pipeline/buildsecret"
	"github.com/zlayer/zlayer/pipeline/spec"
)

// DefaultFrontend is the frontend image for ZImagefiles without a syntax line.
const DefaultFrontend = "zlayer/zimagefile"

// File is a bake definition in buildx's JSON form.
type File struct {
	Group  map[string]Group   `json:"group"`
	Target map[string]*Target `json:"target"`
}

// Group lists targets built together.
type Group struct {
	Targets []string `json:"targets"`
}

// Target is one image in bake's terms.
type Target struct {
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile"`
	Target     string            `json:"target,omitempty"`
	Tags       []string          `json:"tags,omitempty"`
	Args       map[string]string `json:"args,omitempty"`
	Contexts   map[string]string `json:"contexts,omitempty"`
	Platforms  []string          `json:"platforms,omitempty"`
	NoCache    bool              `json:"no-cache,omitempty"`
	Output     []string          `json:"output,omitempty"`
	// Secret and SSH use bake's object forms ({id, src|env}, {id, paths}),
	// so no value needs CSV quoting.
	Secret []buildsecret.Secret `json:"secret,omitempty"`
	SSH    []buildsecret.SSH    `json:"ssh,omitempty"`
}

// Layout is an image this run already built, as an OCI layout folder.
type Layout struct {
	Dir    string
	Digest string // the image's manifest (or index) digest
}

// Options shape the generated definition.
type Options struct {
	// Frontend is set as BUILDKIT_SYNTAX for ZImagefiles with no syntax line.
	Frontend string
	// RelativeTo writes context and file paths relative to this folder (the
	// folder bake runs in); empty keeps them absolute.
	RelativeTo string
	// Push adds a registry output to every target (printed shape).
	Push bool
	// Built maps image names to this run's layouts; a dependency found here
	// becomes an oci-layout:// context instead of target:.
	Built map[string]Layout
	// OutDir, when set, exports each target as an OCI layout folder there,
	// one sub-folder per image name.
	OutDir string
}

// TargetName is the bake target name of an image: bake names allow no dots.
func TargetName(image string) string { return strings.ReplaceAll(image, ".", "_") }

// Generate builds the definition for the named images of pl (all when names
// is empty), in a group "default".
func Generate(pl *spec.Pipeline, names []string, opts Options) (*File, error) {
	if opts.Frontend == "" {
		opts.Frontend = DefaultFrontend
	}
	if len(names) == 0 {
		for _, im := range pl.Images {
			names = append(names, im.Name)
		}
	}
	f := &File{Group: map[string]Group{}, Target: map[string]*Target{}}
	var targets []string
	for _, name := range names {
		im := pl.Image(name)
		if im == nil {
			return nil, fmt.Errorf("bake: no image %q in the pipeline", name)
		}
		t, err := target(pl, im, opts)
		if err != nil {
			return nil, err
		}
		tn := TargetName(name)
		f.Target[tn] = t
		targets = append(targets, tn)
	}
	f.Group["default"] = Group{Targets: targets}
	return f, nil
}

func target(pl *spec.Pipeline, im *spec.Image, opts Options) (*Target, error) {
	bf, err := buildfile.Read(im.File)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", im.Name, err)
	}
	t := &Target{
		Context:    rel(opts.RelativeTo, im.Context),
		Dockerfile: im.File,
		Target:     im.Target,
		Tags:       im.Tags,
		Platforms:  im.Platforms,
		NoCache:    im.NoCache,
		Secret:     im.Secrets,
		SSH:        im.SSH,
	}
	// bake reads dockerfile relative to the context.
	if r, err := filepath.Rel(im.Context, im.File); err == nil {
		t.Dockerfile = r
	}
	if len(im.BuildArgs) > 0 || bf.Kind == buildfile.ZImagefile && bf.Syntax == "" {
		t.Args = map[string]string{}
		for k, v := range im.BuildArgs {
			t.Args[k] = v
		}
		if bf.Kind == buildfile.ZImagefile && bf.Syntax == "" {
			if _, set := t.Args["BUILDKIT_SYNTAX"]; !set {
				t.Args["BUILDKIT_SYNTAX"] = opts.Frontend
			}
		}
	}
	for _, dep := range pl.Closure(im) {
		src := "target:" + TargetName(dep.Name)
		if l, ok := opts.Built[dep.Name]; ok {
			src = "oci-layout://" + l.Dir
			if l.Digest != "" {
				src += "@" + l.Digest
			}
		}
		if t.Contexts == nil {
			t.Contexts = map[string]string{}
		}
		// A Dockerfile may name the dependency by any of its tags, or by its
		// pipeline name; each resolves to this run's build.
		for _, key := range append(ContextKeys(dep.Tags), dep.Name) {
			if _, taken := t.Contexts[key]; !taken {
				t.Contexts[key] = src
			}
		}
	}
	mediaTypes := ""
	if im.Format == "docker" {
		mediaTypes = ",oci-mediatypes=false"
	}
	switch {
	case opts.OutDir != "":
		t.Output = []string{fmt.Sprintf("type=oci,dest=%s,tar=false%s", filepath.Join(opts.OutDir, im.Name), mediaTypes)}
	case opts.Push:
		t.Output = []string{"type=registry" + mediaTypes}
	}
	return t, nil
}

// ContextKeys returns the names under which BuildKit's Dockerfile frontend
// looks up a named context for each tag: the familiar form of the reference,
// without a ":latest" suffix.
func ContextKeys(tags []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, tag := range tags {
		k := Familiar(tag)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Familiar shortens a reference the way Docker prints it: docker.io/library/x
// becomes x, and a :latest tag (without digest) is dropped.
func Familiar(ref string) string {
	name, digest, _ := strings.Cut(ref, "@")
	repo, tag := name, ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		repo, tag = name[:i], name[i+1:]
	}
	for _, p := range []string{"docker.io/", "index.docker.io/"} {
		if strings.HasPrefix(repo, p) {
			repo = strings.TrimPrefix(repo, p)
			repo = strings.TrimPrefix(repo, "library/")
			break
		}
	}
	out := repo
	if tag != "" && !(tag == "latest" && digest == "") {
		out += ":" + tag
	}
	if digest != "" {
		out += "@" + digest
	}
	return out
}

func rel(base, p string) string {
	if base == "" {
		return p
	}
	r, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return r
}

// JSON renders f as bake reads it. Bake parses JSON files as HCL JSON, where
// "${" and "%{" open templates; values were substituted already, so any that
// remain are literal and are escaped.
func (f *File) JSON() ([]byte, error) {
	g := &File{Group: f.Group, Target: map[string]*Target{}}
	for name, t := range f.Target {
		c := *t
		c.Context = escape(c.Context)
		c.Dockerfile = escape(c.Dockerfile)
		c.Target = escape(c.Target)
		c.Tags = escapeAll(c.Tags)
		c.Platforms = escapeAll(c.Platforms)
		c.Output = escapeAll(c.Output)
		c.Args = escapeMap(c.Args)
		c.Contexts = escapeMap(c.Contexts)
		c.Secret = escapeSecrets(c.Secret)
		c.SSH = escapeSSH(c.SSH)
		g.Target[name] = &c
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func escape(s string) string {
	s = strings.ReplaceAll(s, "${", "$${")
	return strings.ReplaceAll(s, "%{", "%%{")
}

func escapeAll(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = escape(s)
	}
	return out
}

func escapeSecrets(in []buildsecret.Secret) []buildsecret.Secret {
	if in == nil {
		return nil
	}
	out := make([]buildsecret.Secret, len(in))
	for i, s := range in {
		out[i] = buildsecret.Secret{ID: escape(s.ID), Src: escape(s.Src), Env: escape(s.Env)}
	}
	return out
}

func escapeSSH(in []buildsecret.SSH) []buildsecret.SSH {
	if in == nil {
		return nil
	}
	out := make([]buildsecret.SSH, len(in))
	for i, s := range in {
		out[i] = buildsecret.SSH{ID: escape(s.ID), Paths: escapeAll(s.Paths)}
	}
	return out
}

func escapeMap(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	keys := slices.Sorted(maps.Keys(in))
	for _, k := range keys {
		out[k] = escape(in[k])
	}
	return out
}
