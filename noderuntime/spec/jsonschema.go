package spec

import (
	"encoding/json"
)

// JSONSchema returns the JSON Schema (draft 2020-12) of a deployment spec,
// generated from the same description the validator uses; schema.json beside
// this file is its checked-in copy, for editors.
func JSONSchema() []byte {
	m := toJSON(rootS)
	m["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	m["$id"] = "https://zlayer.dev/schemas/deployment-v1.json"
	m["title"] = "ZLayer deployment spec"
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

func toJSON(s *schema) map[string]any {
	m := map[string]any{}
	if s.desc != "" {
		m["description"] = s.desc
	}
	switch s.kind {
	case kObject:
		props := map[string]any{}
		var req []string
		for _, f := range s.fields {
			props[f.name] = toJSON(f.s)
			if f.required {
				req = append(req, f.name)
			}
		}
		obj := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(req) > 0 {
			obj["required"] = req
		}
		if s.shorthand != "" {
			m["oneOf"] = []any{map[string]any{"type": "string"}, obj}
		} else {
			for k, v := range obj {
				m[k] = v
			}
		}
	case kString:
		m["type"] = "string"
		s.rule.addJSON(m)
	case kBool:
		m["type"] = "boolean"
	case kInt:
		m["type"] = "integer"
		if s.min != nil {
			m["minimum"] = *s.min
		}
		if s.max != nil {
			m["maximum"] = *s.max
		}
	case kEnum:
		m["enum"] = s.enum
	case kDuration:
		m["type"] = "string"
		m["pattern"] = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	case kQuantity:
		m["type"] = []string{"string", "integer"}
		m["pattern"] = quantityPattern
	case kCPU:
		m["type"] = []string{"string", "number"}
		m["pattern"] = cpuPattern
	case kStringMap:
		m["type"] = "object"
		if s.keyRule != nil {
			names := map[string]any{}
			s.keyRule.addJSON(names)
			m["propertyNames"] = names
		}
		if s.elem != nil {
			m["additionalProperties"] = toJSON(s.elem)
		} else {
			m["additionalProperties"] = map[string]any{"type": []string{"string", "number", "boolean"}}
		}
	case kList:
		m["type"] = "array"
		m["items"] = toJSON(s.elem)
	case kStringList:
		m["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "array", "items": map[string]any{"type": "string"}}}
	}
	return m
}

// addJSON says what it can of r as JSON Schema patterns.
func (r *rule) addJSON(m map[string]any) {
	if r == nil {
		return
	}
	if r.pattern != "" {
		m["pattern"] = r.pattern
	}
	if r.maxLen > 0 {
		m["maxLength"] = r.maxLen
	}
	if r.notPattern != "" {
		m["not"] = map[string]any{"pattern": r.notPattern}
	}
}
