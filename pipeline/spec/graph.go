package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Waves groups images by dependency depth: wave 0 has no dependencies, wave N
// depends only on earlier waves and on at least one image of wave N-1. Within
// a wave images keep file order.
func (p *Pipeline) Waves() [][]*Image {
	depth := map[string]int{}
	var visit func(im *Image) int
	visit = func(im *Image) int {
		if d, ok := depth[im.Name]; ok {
			return d
		}
		d := 0
		for _, dep := range im.DependsOn {
			if dd := visit(p.Image(dep)) + 1; dd > d {
				d = dd
			}
		}
		depth[im.Name] = d
		return d
	}
	var waves [][]*Image
	for _, im := range p.Images {
		d := visit(im)
		for len(waves) <= d {
			waves = append(waves, nil)
		}
		waves[d] = append(waves[d], im)
	}
	return waves
}

// Dependents returns, for each image, the images that list it in depends_on.
func (p *Pipeline) Dependents() map[string][]string {
	out := map[string][]string{}
	for _, im := range p.Images {
		for _, d := range im.DependsOn {
			out[d] = append(out[d], im.Name)
		}
	}
	return out
}

// Closure returns im's transitive dependencies in build order (dependencies
// first), not including im.
func (p *Pipeline) Closure(im *Image) []*Image {
	seen := map[string]bool{}
	var out []*Image
	var visit func(x *Image)
	visit = func(x *Image) {
		for _, d := range x.DependsOn {
			if !seen[d] {
				seen[d] = true
				dep := p.Image(d)
				visit(dep)
				out = append(out, dep)
			}
		}
	}
	visit(im)
	return out
}

// Only returns a copy of p holding the named images and everything they depend
// on, in file order. An unknown name is an error listing the known ones.
func (p *Pipeline) Only(names []string) (*Pipeline, error) {
	if len(names) == 0 {
		return p, nil
	}
	keep := map[string]bool{}
	var unknown []string
	for _, n := range names {
		for _, part := range strings.Split(n, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			im := p.Image(part)
			if im == nil {
				unknown = append(unknown, part)
				continue
			}
			keep[part] = true
			for _, d := range p.Closure(im) {
				keep[d.Name] = true
			}
		}
	}
	if len(unknown) > 0 {
		var all []string
		for _, im := range p.Images {
			all = append(all, im.Name)
		}
		sort.Strings(all)
		return nil, fmt.Errorf("--only: no image named %s in %s (images: %s)", strings.Join(unknown, ", "), p.File, strings.Join(all, ", "))
	}
	q := *p
	q.Images = nil
	for _, im := range p.Images {
		if keep[im.Name] {
			q.Images = append(q.Images, im)
		}
	}
	return &q, nil
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
