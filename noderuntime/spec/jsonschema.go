package spec

import (
	"github.com/zlayer/zlayer/internal/jsonschema"
)

//go:generate go test -run TestSchemaCheckedIn -update-schema .

// SchemaFile is the checked-in JSON Schema of a deployment spec, relative to
// this package.
const SchemaFile = "schema.json"

// SchemaID is where editors find the schema.
const SchemaID = "https://raw.githubusercontent.com/zlayer/zlayer/main/noderuntime/spec/schema.json"

// JSONSchema returns the JSON Schema (draft 2020-12) of a deployment spec,
// generated from the Go types the spec decodes into; schema.json beside this
// file is its checked-in copy, for editors. TestSchemaAgreesWithValidator
// holds it to the validator's description (rootS).
func JSONSchema() ([]byte, error) {
	return jsonschema.Generate(Deployment{}, jsonschema.Document{
		ID:          SchemaID,
		Title:       "ZLayer deployment spec",
		Description: "ZLayer deployment spec (v1).",
		Formats: map[string]jsonschema.Schema{
			"name":     nameRule.jsonSchema(),
			"abspath":  absPathRule.jsonSchema(),
			"urlpath":  urlPathRule.jsonSchema(),
			"host":     hostRule.jsonSchema(),
			"labelkey": labelKeyRule.jsonSchema(),
			"envname":  envNameRule.jsonSchema(),
			"signal":   signalRule.jsonSchema(),
			"hostname": hostnameRule.jsonSchema(),
			"user":     userRule.jsonSchema(),
			"ip":       ipRule.jsonSchema(),
			"devpath":  devPathRule.jsonSchema(),
			"quantity": {"type": []string{"string", "integer"}, "pattern": quantityPattern},
			"cpu":      {"type": []string{"string", "number"}, "pattern": cpuPattern},
		},
	})
}

// jsonSchema says what it can of r as a JSON Schema string.
func (r *rule) jsonSchema() jsonschema.Schema {
	m := jsonschema.Schema{"type": "string"}
	if r.pattern != "" {
		m["pattern"] = r.pattern
	}
	if r.maxLen > 0 {
		m["maxLength"] = r.maxLen
	}
	if r.notPattern != "" {
		m["not"] = jsonschema.Schema{"pattern": r.notPattern}
	}
	return m
}

// JSONSchemaShorthand says that `image: REF` stands for `image: {name: REF}`.
func (Image) JSONSchemaShorthand() jsonschema.Schema {
	return jsonschema.Schema{"type": "string", "description": "Image reference (shorthand for {name: REF})."}
}

// JSONSchema describes the YAML form: one string, or a list of them.
func (StringList) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	return jsonschema.OneOrList(jsonschema.Schema{"type": "string"})
}

// JSONSchema describes the YAML form: a Go duration string.
func (Duration) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	return jsonschema.Schema{"type": "string", "pattern": jsonschema.DurationPattern, "description": "Duration such as 500ms, 10s, 2m."}
}

// JSONSchema describes a node_selector: label names and values by the
// node label rules, at most MaxNodeSelector pairs. A value may be any
// scalar, as YAML reads `gen: 2` into the string "2".
func (NodeSelector) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	value := nodeLabelValueRule.jsonSchema()
	value["type"] = []string{"string", "number", "boolean"}
	return jsonschema.Schema{
		"type":                 "object",
		"propertyNames":        nodeLabelKeyRule.jsonSchema(),
		"additionalProperties": value,
		"maxProperties":        MaxNodeSelector,
	}
}
