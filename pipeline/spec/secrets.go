package spec

import (
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/zlayer/zlayer/internal/yamldoc"
	"github.com/zlayer/zlayer/pipeline/buildsecret"
)

var secretKeys = []string{"id", "src", "env"}

// MaxSecrets bounds an image's secrets and agents each: bake passes them all
// to every build of the image.
const MaxSecrets = 64

// secrets reads an image's secrets: each "id=ID,src=FILE|env=VAR" as
// --secret takes it, or {id, src | env}. A relative src is taken from the
// pipeline file's folder and must exist.
func (p *parser) secrets(n *yaml.Node, image, dir string, vars *resolver) []buildsecret.Secret {
	items := p.boundedList(n, "secrets", MaxSecrets)
	var out []buildsecret.Secret
	seen := map[string]int{}
	for _, it := range items {
		var s buildsecret.Secret
		var srcNode *yaml.Node
		switch it.Kind {
		case yaml.ScalarNode:
			parsed, err := buildsecret.ParseSecret(vars.expand(it, it.Value))
			if err != nil {
				p.errorf(it, "image %s: %v", image, err)
				continue
			}
			s, srcNode = parsed, it
		case yaml.MappingNode:
			ok := true
			p.mapping(it, "secret", secretKeys, func(key string, k, v *yaml.Node) {
				val, isStr := p.str(v, "secret "+key)
				if !isStr {
					ok = false
					return
				}
				val = vars.expand(v, val)
				switch key {
				case "id":
					s.ID = val
				case "src":
					s.Src, srcNode = val, v
				case "env":
					s.Env = val
				}
			})
			if !ok {
				continue
			}
			if s.ID == "" {
				p.errorf(it, "image %s: secret needs id: (the id its run steps mount)", image)
				continue
			}
			if _, err := buildsecret.ParseSecret(s.Spec()); err != nil {
				p.errorf(it, "image %s: %v", image, err)
				continue
			}
		default:
			p.errorf(it, "image %s: a secret is \"id=ID,src=FILE\" or {id, src | env}, not %s", image, yamldoc.KindName(it))
			continue
		}
		if line, dup := seen[s.ID]; dup {
			p.errorf(it, "image %s: secret %q is given twice (first at line %d)", image, s.ID, line)
			continue
		}
		seen[s.ID] = it.Line
		if s.Src != "" {
			if !filepath.IsAbs(s.Src) {
				s.Src = filepath.Join(dir, s.Src)
			}
			if st, err := os.Stat(s.Src); err != nil || st.IsDir() {
				p.errorf(srcNode, "image %s: secret %s: %s is not a file", image, s.ID, s.Src)
			}
		}
		out = append(out, s)
	}
	return out
}

// sshAgents reads an image's ssh: agent specs as --ssh takes them.
func (p *parser) sshAgents(n *yaml.Node, image, dir string, vars *resolver) []buildsecret.SSH {
	items := p.boundedList(n, "ssh", MaxSecrets)
	var out []buildsecret.SSH
	seen := map[string]int{}
	for _, it := range items {
		if it.Kind != yaml.ScalarNode {
			p.errorf(it, "image %s: an ssh entry is default, ID or ID=SOCKET|KEY, not %s", image, yamldoc.KindName(it))
			continue
		}
		a, err := buildsecret.ParseSSH(vars.expand(it, it.Value))
		if err != nil {
			p.errorf(it, "image %s: %v", image, err)
			continue
		}
		if line, dup := seen[a.ID]; dup {
			p.errorf(it, "image %s: ssh agent %q is given twice (first at line %d)", image, a.ID, line)
			continue
		}
		seen[a.ID] = it.Line
		for i, path := range a.Paths {
			if !filepath.IsAbs(path) {
				a.Paths[i] = filepath.Join(dir, path)
			}
		}
		out = append(out, a)
	}
	return out
}

// boundedList is a sequence of at most limit entries (more are reported and
// dropped); a single entry may be written without the list.
func (p *parser) boundedList(n *yaml.Node, what string, limit int) []*yaml.Node {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil
	case n.Kind != yaml.SequenceNode:
		return []*yaml.Node{n}
	case len(n.Content) > limit:
		p.errorf(n.Content[limit], "%s: at most %d entries", what, limit)
		return slices.Clip(n.Content[:limit])
	}
	return n.Content
}
