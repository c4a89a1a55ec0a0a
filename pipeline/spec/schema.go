package spec

import (
	"github.com/zlayer/zlayer/internal/jsonschema"
)

//go:generate go test -run TestSchemaUpToDate -update-schema .

// SchemaFile is the checked-in JSON Schema of a ZPipeline file, relative to
// this package.
const SchemaFile = "zpipeline.schema.json"

// SchemaID is where editors find the schema.
const SchemaID = "https://raw.githubusercontent.com/zlayer/zlayer/main/pipeline/spec/zpipeline.schema.json"

// JSONSchema returns the JSON Schema (draft 2020-12) of a ZPipeline file.
func JSONSchema() ([]byte, error) {
	return jsonschema.Generate(pipelineFile{}, jsonschema.Document{
		ID:          SchemaID,
		Title:       "ZPipeline",
		Description: "A ZLayer pipeline: images to build, in dependency order, with tags and build arguments. ${NAME} in tags and build args is replaced by vars.",
		Formats: map[string]jsonschema.Schema{
			"version":   {"enum": []any{"1", 1}},
			"format":    {"type": "string", "enum": []string{"oci", "docker"}},
			"varname":   {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
			"imagename": {"type": "string", "pattern": `^[A-Za-z0-9][A-Za-z0-9._-]*$`},
		},
	})
}

// pipelineFile is the shape of a pipeline file, for its JSON Schema only:
// the parser walks the YAML nodes itself (spec.go) so that every value keeps
// its position, with the key lists topKeys, defaultsKeys, pushKeys and
// imageKeys, which TestSchemaKeysMatchParser holds to these fields.
type pipelineFile struct {
	Version  string            `yaml:"version" schema:"version" doc:"Format version; only \"1\"."`
	Vars     map[string]string `yaml:"vars" nullable:"true" keys:"varname" doc:"Variables for ${NAME} in tags and build args; --set NAME=VALUE overrides them."`
	Defaults struct {
		Format    string            `yaml:"format" schema:"format" doc:"Output format of every image unless it sets its own (default oci)."`
		BuildArgs map[string]string `yaml:"build_args" doc:"Build arguments of every image; an image's own build_args add to them."`
		NoCache   bool              `yaml:"no_cache" doc:"Build every image without the build cache."`
		Platforms stringList        `yaml:"platforms" doc:"Platforms of every image, e.g. linux/amd64."`
	} `yaml:"defaults" nullable:"true" doc:"Settings every image starts from."`
	Images map[string]imageEntry `yaml:"images" required:"true" keys:"imagename" doc:"Images by name: letters, digits, '-', '_' and '.', starting with a letter or digit."`
	Push   struct {
		AfterAll bool `yaml:"after_all" doc:"Push only once every image has built."`
	} `yaml:"push" nullable:"true" doc:"When images are pushed (with --push)."`
}

type imageEntry struct {
	File      string            `yaml:"file" required:"true" doc:"Path of the image's Dockerfile or ZImagefile, relative to the pipeline file."`
	Context   string            `yaml:"context" doc:"Build context folder, relative to the pipeline file (default .)."`
	Tags      stringList        `yaml:"tags" doc:"Image references to tag the result with; ${NAME} is replaced by vars."`
	DependsOn stringList        `yaml:"depends_on" doc:"Images of this pipeline that must build first; this one builds on what they built."`
	BuildArgs map[string]string `yaml:"build_args" doc:"Build arguments, added to defaults.build_args; ${NAME} is replaced by vars."`
	NoCache   bool              `yaml:"no_cache" doc:"Build without the build cache."`
	Format    string            `yaml:"format" schema:"format" doc:"Output format (default oci, or defaults.format)."`
	Platforms stringList        `yaml:"platforms" doc:"Platforms to build for, e.g. linux/amd64."`
	Target    string            `yaml:"target" doc:"Stage to build (a Dockerfile or ZImagefile stage name)."`
}

// stringList is one string or a list of them, as the parser's strList reads.
type stringList []string

// JSONSchema describes the YAML form: one string, or a list of them.
func (stringList) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	return jsonschema.OneOrList(jsonschema.Schema{"type": "string"})
}
