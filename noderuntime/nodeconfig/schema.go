package nodeconfig

import (
	"github.com/zlayer/zlayer/internal/jsonschema"
)

//go:generate go test -run TestSchemaUpToDate -update-schema .

// SchemaFile is the checked-in JSON Schema of the node config file, relative
// to this package.
const SchemaFile = "nodeconfig.schema.json"

// SchemaID is where editors find the schema.
const SchemaID = "https://raw.githubusercontent.com/zlayer/zlayer/main/noderuntime/nodeconfig/nodeconfig.schema.json"

// JSONSchema returns the JSON Schema (draft 2020-12) of the node config file,
// generated from the types the file decodes into (document); the key shape
// the reader checks (top) is held to it by TestSchemaKeysMatchReader.
func JSONSchema() ([]byte, error) {
	return jsonschema.Generate(document{}, jsonschema.Document{
		ID:          SchemaID,
		Title:       "ZLayer node config",
		Description: "The node config file of `zlayer serve --config`: registry mirrors and settings (k3s registries.yaml shape), bridge networking and the ingress.",
	})
}
