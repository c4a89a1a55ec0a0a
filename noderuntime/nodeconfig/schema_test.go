package nodeconfig

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/internal/jsonschema/schematest"
)

// TestSchemaUpToDate fails when the checked-in schema differs from what the
// Go types generate (run `go generate ./noderuntime/nodeconfig` to refresh).
func TestSchemaUpToDate(t *testing.T) {
	schematest.UpToDate(t, SchemaFile, JSONSchema)
}

// TestSchemaKeysMatchReader walks the reader's key shape (top) beside the
// schema: every mapping must know the same keys.
func TestSchemaKeysMatchReader(t *testing.T) {
	d := schematest.Decode(t, JSONSchema)
	compared := 0
	var walk func(path string, s *shape, m map[string]any)
	walk = func(path string, s *shape, m map[string]any) {
		m = d.Resolve(m)
		switch {
		case s.items != nil:
			walk(path+"[]", s.items, m["items"].(map[string]any))
		case s.entries != nil:
			walk(path+".*", s.entries, m["additionalProperties"].(map[string]any))
		default:
			compared++
			if got, want := d.Keys(path, m), slices.Sorted(slices.Values(s.order)); !slices.Equal(got, want) {
				t.Errorf("%s: schema keys %v, reader keys %v", path, got, want)
			}
			props, _ := m["properties"].(map[string]any)
			for k, sub := range s.keys {
				if p, ok := props[k].(map[string]any); ok && sub != nil {
					walk(path+"."+k, sub, p)
				}
			}
		}
	}
	walk("<root>", top, d.Root)
	if compared < 8 {
		t.Errorf("compared only %d mappings", compared)
	}
}

// TestSchemaValidatesExamples checks the example node config against the
// schema, and that the schema refuses unknown keys and bad values as the
// reader does.
func TestSchemaValidatesExamples(t *testing.T) {
	s := schematest.Compile(t, SchemaFile, SchemaID)
	ex, err := os.ReadFile("../../examples/deploy/node-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ex), "yaml-language-server: $schema=../../noderuntime/nodeconfig/"+SchemaFile) {
		t.Errorf("examples/deploy/node-config.yaml has no yaml-language-server line for %s", SchemaFile)
	}
	full := `mirrors:
  docker.io: {endpoint: ["https://mirror.lan"]}
configs:
  reg.lan:5000: {auth: {username: u, password: p}, tls: {insecure_skip_verify: true}, plain_http: false}
network: {disabled: false, default_mode: bridge, bridge: zl0, subnet: 10.9.0.0/16, mtu: 1400, plugin_dirs: [/opt/cni/bin], netns_dir: /run/n}
ingress:
  listen: 127.0.0.1
  certs: [{hosts: [a.example], cert: /c.pem, key: /k.pem}]
  trusted_proxies: [10.0.0.0/8]
  fast_path: false
  max_conns: 10
  header_timeout: 5s
  udp_max_sessions_per_source: 3
`
	for name, doc := range map[string]string{"example": string(ex), "full": full} {
		if err := schematest.Validate(s, []byte(doc)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := Parse(name, []byte(doc)); err != nil {
			t.Errorf("reader: %v", err)
		}
	}
	for _, bad := range []string{
		"bogus: 1\n",
		"registries: {mirrors: {docker.io: {endpoints: [x]}}}\n",
		"network: {default_mode: nat}\n",
		"ingress: {max_conns: -1}\n",
		"ingress: {header_timeout: soon}\n",
		"ingress: {certs: [{host: a}]}\n",
	} {
		if err := schematest.Validate(s, []byte(bad)); err == nil {
			t.Errorf("schema accepts %q", bad)
		}
		if _, err := Parse("n.yaml", []byte(bad)); err == nil {
			t.Errorf("reader accepts %q", bad)
		}
	}
}

// Sections written with nothing under them are the defaults to the reader,
// and the schema takes them too.
func TestSchemaTakesNullSections(t *testing.T) {
	s := schematest.Compile(t, SchemaFile, SchemaID)
	doc := "registries:\nmirrors:\nconfigs:\nnetwork:\ningress:\n"
	if err := schematest.Validate(s, []byte(doc)); err != nil {
		t.Error(err)
	}
	if _, err := Parse("n.yaml", []byte(doc)); err != nil {
		t.Errorf("reader: %v", err)
	}
}
