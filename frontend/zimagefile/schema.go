package zimagefile

import (
	"reflect"

	"github.com/zlayer/zlayer/internal/jsonschema"
)

//go:generate go test -run TestSchemaUpToDate -update-schema .

// SchemaFile is the checked-in JSON Schema, relative to this package.
const SchemaFile = "zimagefile.schema.json"

// SchemaID is where editors find the schema.
const SchemaID = "https://raw.githubusercontent.com/zlayer/zlayer/main/frontend/zimagefile/zimagefile.schema.json"

// JSONSchema returns the ZImagefile JSON Schema, generated from the Go types
// so that it cannot drift from what the parser reads.
func JSONSchema() ([]byte, error) {
	return jsonschema.Generate(File{}, jsonschema.Document{
		ID:          SchemaID,
		Title:       "ZImagefile",
		Description: "A ZLayer build file: YAML for a BuildKit build. Set exactly one of runtime, base (+ steps), stages or wasm.",
		// The parser refuses empty strings wherever it takes one.
		NonEmptyStrings: true,
		Formats: map[string]jsonschema.Schema{
			"version":  {"enum": []any{"1", 1}},
			"duration": {"type": "string", "minLength": 1, "pattern": jsonschema.DurationPattern},
			"chmod":    {"type": "string", "minLength": 1, "pattern": chmodRe.String()},
			"signal":   {"type": "string", "minLength": 1, "pattern": signalRe.String()},
			"secretid": {"type": "string", "pattern": secretIDRe.String()},
			"abspath":  {"type": "string", "pattern": absPathRe.String(), "not": jsonschema.Schema{"pattern": `^/+$`}},
			"envname":  {"type": "string", "pattern": argNameRe.String()},
		},
		Root: jsonschema.Schema{"anyOf": []any{
			jsonschema.Schema{"required": []string{"runtime"}},
			jsonschema.Schema{"required": []string{"base"}},
			jsonschema.Schema{"required": []string{"stages"}},
			jsonschema.Schema{"required": []string{"wasm"}},
		}},
	})
}

// The types below have their own YAML readers (parse.go); their methods say
// in JSON Schema what those readers take.

var scalar = []string{"string", "number", "boolean"}

func nonEmpty() jsonschema.Schema { return jsonschema.Schema{"type": "string", "minLength": 1} }

func portSchema() jsonschema.Schema {
	return jsonschema.Schema{"oneOf": []any{
		jsonschema.Schema{"type": "integer", "minimum": 1, "maximum": 65535},
		jsonschema.Schema{"type": "string", "pattern": `^[0-9]+(/(tcp|udp|sctp|TCP|UDP|SCTP))?$`},
	}}
}

// JSONSchema describes the YAML form: stages are a map from stage name to stage, in build order.
func (Stages) JSONSchema(g *jsonschema.Generator) jsonschema.Schema {
	return jsonschema.Schema{
		"type":                 "object",
		"minProperties":        1,
		"propertyNames":        jsonschema.Schema{"pattern": stageNameRe.String()},
		"additionalProperties": g.Ref(reflect.TypeFor[Stage]()),
	}
}

// JSONSchema describes the YAML form: a map of scalars.
func (KeyValues) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	return jsonschema.Schema{"type": "object", "additionalProperties": jsonschema.Schema{"type": scalar}}
}

// JSONSchema describes the YAML form: a map of scalars or null (no default).
func (Args) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	return jsonschema.Schema{
		"type":                 "object",
		"propertyNames":        jsonschema.Schema{"pattern": argNameRe.String()},
		"additionalProperties": jsonschema.Schema{"type": append(append([]string{}, scalar...), "null")},
	}
}

// JSONSchema describes the YAML form: one string or a list of them.
func (StringList) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	return jsonschema.Schema{"oneOf": []any{
		nonEmpty(),
		jsonschema.Schema{"type": "array", "items": nonEmpty(), "minItems": 1},
	}}
}

// JSONSchema describes the YAML form: one port or a list of them.
func (Ports) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	return jsonschema.Schema{"oneOf": []any{portSchema(), jsonschema.Schema{"type": "array", "items": portSchema(), "minItems": 1}}}
}

// JSONSchema describes the YAML form: shell form (a string) or exec form (a list).
func (Command) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	return jsonschema.Schema{"oneOf": []any{
		jsonschema.Schema{"type": "string", "minLength": 1, "description": "shell form"},
		jsonschema.Schema{"type": "array", "items": jsonschema.Schema{"type": scalar}, "minItems": 1, "description": "exec form"},
	}}
}

// JSONSchema describes the YAML form: a bounded list of secret mounts, each
// a file (target) or a variable (env) but not both.
func (SecretMounts) JSONSchema(g *jsonschema.Generator) jsonschema.Schema {
	return jsonschema.Schema{
		"type":     "array",
		"maxItems": MaxSecretsPerStep,
		"items": jsonschema.Schema{"allOf": []any{
			g.Ref(reflect.TypeFor[SecretMount]()),
			jsonschema.Schema{"not": jsonschema.Schema{"required": []string{"target", "env"}}},
		}},
	}
}

// JSONSchema describes the YAML form: a bounded list of agent mounts.
func (SSHMounts) JSONSchema(g *jsonschema.Generator) jsonschema.Schema {
	return jsonschema.Schema{"type": "array", "maxItems": MaxSSHPerStep, "items": g.Ref(reflect.TypeFor[SSHMount]())}
}

// JSONSchemaShorthand is the id alone: `ssh: [default]`.
func (SSHMount) JSONSchemaShorthand() jsonschema.Schema {
	return jsonschema.Schema{"type": "string", "pattern": secretIDRe.String()}
}
