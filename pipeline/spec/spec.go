// Package spec reads ZPipeline files: the images to build, their dependencies,
// tags and build arguments, with ${VAR} substitution and defaults merged in.
// Every problem is reported with the file, line and column it comes from.
package spec

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/zlayer/zlayer/internal/depcycle"
	"github.com/zlayer/zlayer/internal/yamldoc"
	"github.com/zlayer/zlayer/pipeline/buildsecret"
)

// DefaultFiles are tried in order when no pipeline file is named.
var DefaultFiles = []string{"ZPipeline.yaml", "ZPipeline.yml", "zlayer-pipeline.yaml"}

// Pipeline is a validated pipeline: vars substituted, defaults merged, paths
// absolute, dependencies known to exist and to form no cycle.
type Pipeline struct {
	File         string // the pipeline file as given
	Dir          string // absolute folder of the pipeline file; relative paths start here
	Version      string
	Vars         map[string]string
	Images       []*Image // in file order
	PushAfterAll bool
}

// Image is one image of a pipeline.
type Image struct {
	Name      string
	Pos       Pos    // of the image's key, in Pipeline.File
	File      string // absolute path of the Dockerfile or ZImagefile
	Context   string // absolute build context folder
	Tags      []string
	DependsOn []string
	BuildArgs map[string]string
	NoCache   bool
	Format    string // "oci" or "docker"
	Platforms []string
	Target    string
	// Secrets and SSH are handed to the build session (bake's secret and
	// ssh), never to build args.
	Secrets []buildsecret.Secret
	SSH     []buildsecret.SSH

	tagPos map[string]Pos
}

// Image returns the named image, or nil.
func (p *Pipeline) Image(name string) *Image {
	for _, im := range p.Images {
		if im.Name == name {
			return im
		}
	}
	return nil
}

// Find returns the pipeline file to use in dir: the first of DefaultFiles that
// exists.
func Find(dir string) (string, error) {
	for _, name := range DefaultFiles {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	where := dir
	if abs, err := filepath.Abs(dir); err == nil {
		where = abs
	}
	return "", fmt.Errorf("no pipeline file in %s (looked for %s); name one with -f", where, strings.Join(DefaultFiles, ", "))
}

// MaxBytes is the largest pipeline file read.
const MaxBytes = yamldoc.DefaultMaxBytes

// Load reads and validates the pipeline file at path. sets override or add
// vars, as `--set K=V` does.
func Load(path string, sets map[string]string) (*Pipeline, error) {
	data, err := yamldoc.ReadFile(path, MaxBytes)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("pipeline file %s does not exist", path)
		}
		if errors.Is(err, yamldoc.ErrTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("read pipeline: %w", err)
	}
	return Parse(path, data, sets)
}

// ParseSets turns K=V strings into a map, rejecting malformed ones.
func ParseSets(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q: want KEY=VALUE", kv)
		}
		if !validVarName(k) {
			return nil, fmt.Errorf("--set %q: %q is not a valid variable name (letters, digits and _)", kv, k)
		}
		m[k] = v
	}
	return m, nil
}

// Parse validates data as the pipeline file named filename. Relative paths in
// it are taken from filename's folder.
//
// Aliases and merge keys are expanded first, within yamldoc's node budget,
// so every check below sees each value where it is used.
func Parse(filename string, data []byte, sets map[string]string) (*Pipeline, error) {
	dir, err := filepath.Abs(filepath.Dir(filename))
	if err != nil {
		return nil, err
	}
	p := &parser{file: filename}
	root, err := yamldoc.Parse(filename, data, yamldoc.Limits{MaxBytes: MaxBytes})
	if errors.Is(err, yamldoc.ErrEmpty) {
		return nil, &Error{File: filename, Msg: "empty pipeline file: it needs at least an images: section", Err: yamldoc.ErrEmpty}
	}
	if err != nil {
		return nil, err
	}
	pl := p.pipeline(root, dir, sets)
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return pl, nil
}

type parser struct {
	file string
	errs ErrorList
}

func (p *parser) pos(n *yaml.Node) Pos { return yamldoc.PosOf(n) }

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: p.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// mapping walks a mapping node, rejecting keys not in allowed and duplicates.
func (p *parser) mapping(n *yaml.Node, what string, allowed []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return
		}
		p.errorf(n, "%s must be a mapping, not %s", what, yamldoc.KindName(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if prev, dup := seen[key]; dup {
			p.errorf(k, "duplicate key %q in %s (first at line %d)", key, what, prev.Line)
			continue
		}
		seen[key] = k
		if allowed != nil && !slices.Contains(allowed, key) {
			p.errorf(k, "%s", yamldoc.UnknownKey(key, what, allowed))
			continue
		}
		fn(key, k, v)
	}
}

func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" && n.Value == "" {
		if n.Kind == yaml.ScalarNode {
			return "", true
		}
		p.errorf(n, "%s must be a string, not %s", what, yamldoc.KindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		p.errorf(n, "%s must be true or false, not %q", what, n.Value)
		return false, false
	}
	return b, true
}

// strList accepts a list of strings, or a single string for convenience.
func (p *parser) strList(n *yaml.Node, what string) ([]string, []*yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return nil, nil
		}
		return []string{n.Value}, []*yaml.Node{n}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a list of strings, not %s", what, yamldoc.KindName(n))
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for _, it := range n.Content {
		if it.Kind != yaml.ScalarNode {
			p.errorf(it, "%s entries must be strings, not %s", what, yamldoc.KindName(it))
			continue
		}
		out = append(out, it.Value)
		nodes = append(nodes, it)
	}
	return out, nodes
}

// strMap reads a mapping of scalars (build args); numbers and booleans are
// taken as written.
func (p *parser) strMap(n *yaml.Node, what string) (map[string]string, map[string]*yaml.Node) {
	out := map[string]string{}
	nodes := map[string]*yaml.Node{}
	p.mapping(n, what, nil, func(key string, k, v *yaml.Node) {
		if v.Kind != yaml.ScalarNode {
			p.errorf(v, "%s.%s must be a string, not %s", what, key, yamldoc.KindName(v))
			return
		}
		out[key] = v.Value
		nodes[key] = v
	})
	return out, nodes
}

type defaults struct {
	format    string
	formatN   *yaml.Node
	args      map[string]string
	argNodes  map[string]*yaml.Node
	noCache   bool
	platforms []string
}

func (p *parser) pipeline(root *yaml.Node, dir string, sets map[string]string) *Pipeline {
	pl := &Pipeline{File: p.file, Dir: dir, Version: "1", Vars: map[string]string{}}
	var varNodes map[string]*yaml.Node
	var defs defaults
	var imagesNode *yaml.Node
	p.mapping(root, "pipeline", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			if s, ok := p.str(v, "version"); ok {
				if s != "1" {
					p.errorf(v, "unsupported version %q (this zlayer reads version \"1\")", s)
				}
				pl.Version = s
			}
		case "vars":
			pl.Vars, varNodes = p.strMap(v, "vars")
		case "defaults":
			p.mapping(v, "defaults", defaultsKeys, func(key string, k, v *yaml.Node) {
				switch key {
				case "format":
					defs.format, _ = p.str(v, "defaults.format")
					defs.formatN = v
					p.checkFormat(v, defs.format)
				case "build_args":
					defs.args, defs.argNodes = p.strMap(v, "defaults.build_args")
				case "no_cache":
					defs.noCache, _ = p.boolean(v, "defaults.no_cache")
				case "platforms":
					defs.platforms, _ = p.strList(v, "defaults.platforms")
				}
			})
		case "images":
			imagesNode = v
		case "push":
			p.mapping(v, "push", pushKeys, func(key string, k, v *yaml.Node) {
				pl.PushAfterAll, _ = p.boolean(v, "push.after_all")
			})
		}
	})
	if root.Kind != yaml.MappingNode {
		// A null document ("~") passes mapping() as empty: it still has
		// no images.
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			p.errorf(root, "no images: section; a pipeline needs at least one image")
		}
		return pl
	}
	for k, v := range sets {
		pl.Vars[k] = v
	}
	vars := newResolver(p, pl.Vars, varNodes, sets)
	pl.Vars = vars.all()

	if imagesNode == nil {
		p.errorf(root, "no images: section; a pipeline needs at least one image")
		return pl
	}
	// "images:" with nothing under it is null, as empty as "images: {}".
	if imagesNode.Kind == yaml.MappingNode && len(imagesNode.Content) == 0 || imagesNode.Kind == yaml.ScalarNode && imagesNode.Tag == "!!null" {
		p.errorf(imagesNode, "images: is empty; a pipeline needs at least one image")
	}
	deps := map[string][]*yaml.Node{}
	p.mapping(imagesNode, "images", nil, func(name string, k, v *yaml.Node) {
		im, depNodes := p.image(name, k, v, dir, &defs, vars)
		if im != nil {
			pl.Images = append(pl.Images, im)
			deps[name] = depNodes
		}
	})
	p.checkDeps(pl, deps)
	p.checkTags(pl)
	return pl
}

func (p *parser) checkFormat(n *yaml.Node, f string) {
	if f != "" && f != "oci" && f != "docker" {
		p.errorf(n, "format %q: want oci or docker", f)
	}
}

// The keys each mapping of a pipeline file takes, in the order messages list
// them; schema.go's types describe the same keys for the JSON Schema.
var (
	topKeys      = []string{"version", "vars", "defaults", "images", "push"}
	defaultsKeys = []string{"format", "build_args", "no_cache", "platforms"}
	pushKeys     = []string{"after_all"}
	imageKeys    = []string{"file", "context", "tags", "depends_on", "build_args", "no_cache", "format", "platforms", "target", "secrets", "ssh"}
)

func (p *parser) image(name string, k, v *yaml.Node, dir string, defs *defaults, vars *resolver) (*Image, []*yaml.Node) {
	if !validImageName(name) {
		p.errorf(k, "image name %q: use letters, digits, '-', '_' and '.', starting with a letter or digit", name)
	}
	im := &Image{Name: name, Pos: p.pos(k), Format: defs.format, NoCache: defs.noCache, Platforms: defs.platforms, tagPos: map[string]Pos{}}
	var fileN, contextN *yaml.Node
	var depNodes []*yaml.Node
	args := map[string]string{}
	for key, val := range defs.args {
		args[key] = vars.expand(defs.argNodes[key], val)
	}
	p.mapping(v, "image "+name, imageKeys, func(key string, kn, vn *yaml.Node) {
		switch key {
		case "file":
			im.File, _ = p.str(vn, "file")
			fileN = vn
		case "context":
			im.Context, _ = p.str(vn, "context")
			contextN = vn
		case "tags":
			tags, nodes := p.strList(vn, "tags")
			for i, t := range tags {
				t = vars.expand(nodes[i], t)
				if strings.TrimSpace(t) == "" && !strings.Contains(nodes[i].Value, "${") {
					p.errorf(nodes[i], "empty tag")
					continue
				}
				im.Tags = append(im.Tags, t)
				im.tagPos[t] = p.pos(nodes[i])
			}
		case "depends_on":
			im.DependsOn, depNodes = p.strList(vn, "depends_on")
		case "build_args":
			m, nodes := p.strMap(vn, "build_args")
			for key, val := range m {
				args[key] = vars.expand(nodes[key], val)
			}
		case "no_cache":
			im.NoCache, _ = p.boolean(vn, "no_cache")
		case "format":
			im.Format, _ = p.str(vn, "format")
			p.checkFormat(vn, im.Format)
		case "platforms":
			im.Platforms, _ = p.strList(vn, "platforms")
		case "target":
			im.Target, _ = p.str(vn, "target")
		case "secrets":
			im.Secrets = p.secrets(vn, name, dir, vars)
		case "ssh":
			im.SSH = p.sshAgents(vn, name, dir, vars)
		}
	})
	if v.Kind != yaml.MappingNode {
		// An image written with nothing under it still needs its file.
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			p.errorf(k, "image %s: file is required (path of its Dockerfile or ZImagefile)", name)
		}
		return nil, nil
	}
	if len(args) > 0 {
		im.BuildArgs = args
	}
	if im.Format == "" {
		im.Format = "oci"
	}
	if im.Context == "" {
		im.Context = "."
	}
	if !filepath.IsAbs(im.Context) {
		im.Context = filepath.Join(dir, im.Context)
	}
	at := contextN
	if at == nil {
		at = k
	}
	if st, err := os.Stat(im.Context); err != nil || !st.IsDir() {
		p.errorf(at, "image %s: build context %s is not a folder", name, im.Context)
		return im, depNodes
	}
	if fileN == nil || im.File == "" {
		at := fileN
		if at == nil {
			at = k
		}
		p.errorf(at, "image %s: file is required (path of its Dockerfile or ZImagefile)", name)
		return im, depNodes
	}
	if !filepath.IsAbs(im.File) {
		im.File = filepath.Join(dir, im.File)
	}
	if st, err := os.Stat(im.File); err != nil {
		p.errorf(fileN, "image %s: build file %s does not exist", name, im.File)
	} else if st.IsDir() {
		p.errorf(fileN, "image %s: build file %s is a folder", name, im.File)
	}
	return im, depNodes
}

func (p *parser) checkDeps(pl *Pipeline, deps map[string][]*yaml.Node) {
	names := map[string]bool{}
	for _, im := range pl.Images {
		names[im.Name] = true
	}
	ok := true
	for _, im := range pl.Images {
		seen := map[string]bool{}
		for i, d := range im.DependsOn {
			n := deps[im.Name][i]
			switch {
			case !names[d]:
				p.errorf(n, "image %s depends on unknown image %q%s", im.Name, d, suggest(d, names))
				ok = false
			case seen[d]:
				p.errorf(n, "image %s lists %q twice in depends_on", im.Name, d)
			}
			seen[d] = true
		}
	}
	if !ok {
		return
	}
	order := make([]string, len(pl.Images))
	for i, im := range pl.Images {
		order[i] = im.Name
	}
	if cyc := depcycle.Find(order, func(n string) []string { return pl.Image(n).DependsOn }); cyc != nil {
		im := pl.Image(cyc[0])
		pos := im.Pos
		for i, d := range im.DependsOn {
			if d == cyc[1] {
				pos = p.pos(deps[im.Name][i])
			}
		}
		p.errs = append(p.errs, &Error{File: p.file, Pos: pos, Msg: "dependency cycle: " + strings.Join(cyc, " -> ")})
	}
}

func (p *parser) checkTags(pl *Pipeline) {
	owner := map[string]*Image{}
	for _, im := range pl.Images {
		for _, t := range im.Tags {
			if prev, ok := owner[t]; ok {
				where := "twice"
				if prev != im {
					where = fmt.Sprintf("also by image %s at %s:%s", prev.Name, p.file, prev.tagPos[t])
				}
				p.errs = append(p.errs, &Error{File: p.file, Pos: im.tagPos[t], Msg: fmt.Sprintf("duplicate tag %q: image %s, %s", t, im.Name, where)})
				continue
			}
			owner[t] = im
		}
	}
}

// TagPos returns where tag was written for im, for messages.
func (im *Image) TagPos(tag string) Pos { return im.tagPos[tag] }

func suggest(name string, names map[string]bool) string {
	return fmt.Sprintf(" (images: %s)", strings.Join(slices.Sorted(maps.Keys(names)), ", "))
}

func validImageName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '-' && r != '_' && r != '.') {
			return false
		}
	}
	return true
}
