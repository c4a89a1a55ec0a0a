package zimagefile

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

//go:generate go test -run TestSchemaUpToDate -update-schema .

// SchemaFile is the checked-in JSON Schema, relative to this package.
const SchemaFile = "zimagefile.schema.json"

// SchemaID is where editors find the schema.
const SchemaID = "https://raw.githubusercontent.com/zlayer/zlayer/main/frontend/zimagefile/zimagefile.schema.json"

// JSONSchema returns the ZImagefile JSON Schema, generated from the Go types
// so that it cannot drift from what the parser reads.
func JSONSchema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeOf(File{}))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "ZImagefile"
	root["description"] = "A ZLayer build file: YAML for a BuildKit build. Set exactly one of runtime, base (+ steps), stages or wasm."
	root["anyOf"] = []any{
		map[string]any{"required": []string{"runtime"}},
		map[string]any{"required": []string{"base"}},
		map[string]any{"required": []string{"stages"}},
		map[string]any{"required": []string{"wasm"}},
	}
	root["$defs"] = g.defs
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(orderedMap(root)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type schemaGen struct {
	defs map[string]any
}

var (
	stringListSchema = map[string]any{"oneOf": []any{
		map[string]any{"type": "string", "minLength": 1},
		map[string]any{"type": "array", "items": map[string]any{"type": "string", "minLength": 1}, "minItems": 1},
	}}
	commandSchema = map[string]any{"oneOf": []any{
		map[string]any{"type": "string", "minLength": 1, "description": "shell form"},
		map[string]any{"type": "array", "items": map[string]any{"type": []string{"string", "number", "boolean"}}, "minItems": 1, "description": "exec form"},
	}}
	portSchema = map[string]any{"oneOf": []any{
		map[string]any{"type": "integer", "minimum": 1, "maximum": 65535},
		map[string]any{"type": "string", "pattern": `^[0-9]+(/(tcp|udp|sctp|TCP|UDP|SCTP))?$`},
	}}
	scalar = []string{"string", "number", "boolean"}
)

// typeSchema returns the schema of a Go type as YAML users write it.
func (g *schemaGen) typeSchema(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeOf(Stages{}):
		return map[string]any{
			"type":                 "object",
			"minProperties":        1,
			"propertyNames":        map[string]any{"pattern": stageNameRe.String()},
			"additionalProperties": g.ref(reflect.TypeOf(Stage{})),
		}
	case reflect.TypeOf(KeyValues{}):
		return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": scalar}}
	case reflect.TypeOf(Args{}):
		return map[string]any{
			"type":                 "object",
			"propertyNames":        map[string]any{"pattern": argNameRe.String()},
			"additionalProperties": map[string]any{"type": append(append([]string{}, scalar...), "null")},
		}
	case reflect.TypeOf(StringList{}):
		return clone(stringListSchema)
	case reflect.TypeOf(Ports{}):
		return map[string]any{"oneOf": []any{clone(portSchema), map[string]any{"type": "array", "items": clone(portSchema), "minItems": 1}}}
	case reflect.TypeOf(&Command{}), reflect.TypeOf(Command{}):
		return clone(commandSchema)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeSchema(t.Elem())
	case reflect.Struct:
		return g.ref(t)
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typeSchema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string", "minLength": 1}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int:
		return map[string]any{"type": "integer"}
	}
	return map[string]any{}
}

func (g *schemaGen) ref(t reflect.Type) map[string]any {
	name := t.Name()
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = nil // break cycles
		g.defs[name] = g.object(t)
	}
	return map[string]any{"$ref": "#/$defs/" + name}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Anonymous {
			g.fields(sf.Type, props, required)
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		s := g.typeSchema(sf.Type)
		if d := sf.Tag.Get("doc"); d != "" {
			s["description"] = d
		}
		if e := sf.Tag.Get("enum"); e != "" {
			delete(s, "minLength")
			s["enum"] = strings.Split(e, ",")
		}
		if m := sf.Tag.Get("minimum"); m != "" {
			n, _ := strconv.Atoi(m)
			s["minimum"] = n
		}
		switch sf.Tag.Get("schema") {
		case "duration":
			s["pattern"] = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
		case "chmod":
			s["pattern"] = chmodRe.String()
		case "signal":
			s["pattern"] = signalRe.String()
		}
		if name == "version" {
			s = map[string]any{"description": s["description"], "enum": []any{"1", 1}}
		}
		if sf.Tag.Get("required") == "true" {
			*required = append(*required, name)
		}
		props[name] = s
	}
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// orderedMap is a map encoded with sorted keys (encoding/json already sorts
// map keys; the type only documents that output is deterministic).
type orderedMap = map[string]any
