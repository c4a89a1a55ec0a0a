package yamldoc

import "gopkg.in/yaml.v3"

// Get returns the value node of key in mapping m (the first, should the key
// repeat); nil when m is nil, not a mapping, or has no such key, so that
// lookups can be chained through optional sections.
func Get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
