package spec

import (
	"reflect"

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
	Secrets   secretList        `yaml:"secrets" doc:"Build secrets its run steps mount: \"id=ID,src=FILE\", \"id=ID,env=VAR\" or {id, src | env}; a relative src is from the pipeline file's folder. Values never reach the image."`
	SSH       sshList           `yaml:"ssh" doc:"SSH agents its run steps may mount: default, ID or ID=SOCKET|KEY[,KEY]."`
}

// secretEntry is one image secret: the --secret string or a mapping.
type secretEntry struct {
	ID  string `yaml:"id" required:"true" doc:"Secret id, as a run step's secrets: names it."`
	Src string `yaml:"src" doc:"File holding the value; not with env."`
	Env string `yaml:"env" doc:"Environment variable holding the value; not with src."`
}

// JSONSchemaShorthand is the --secret syntax.
func (secretEntry) JSONSchemaShorthand() jsonschema.Schema {
	return jsonschema.Schema{"type": "string", "pattern": "(^|,)id="}
}

type secretList []secretEntry

// JSONSchema describes the YAML form: one secret or a bounded list of them,
// each with src or env but not both.
func (secretList) JSONSchema(g *jsonschema.Generator) jsonschema.Schema {
	item := jsonschema.Schema{"allOf": []any{
		g.Ref(reflect.TypeFor[secretEntry]()),
		jsonschema.Schema{"not": jsonschema.Schema{"type": "object", "required": []string{"src", "env"}}},
	}}
	return jsonschema.Schema{"oneOf": []any{item, jsonschema.Schema{"type": "array", "items": item, "maxItems": MaxSecrets}}}
}

type sshList []string

// JSONSchema describes the YAML form: one agent spec or a bounded list.
func (sshList) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	item := jsonschema.Schema{"type": "string", "pattern": "^[^=,\" ]+(=.+)?$"}
	return jsonschema.Schema{"oneOf": []any{item, jsonschema.Schema{"type": "array", "items": item, "maxItems": MaxSecrets}}}
}

// stringList is one string or a list of them, as the parser's strList reads.
type stringList []string

// JSONSchema describes the YAML form: one string, or a list of them.
func (stringList) JSONSchema(*jsonschema.Generator) jsonschema.Schema {
	return jsonschema.OneOrList(jsonschema.Schema{"type": "string"})
}
