package spec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/internal/jsonschema/schematest"
)

// TestSchemaCheckedIn fails when schema.json differs from what the Go types
// generate (go test ./noderuntime/spec -run TestSchemaCheckedIn -update-schema).
func TestSchemaCheckedIn(t *testing.T) {
	schematest.UpToDate(t, SchemaFile, JSONSchema)
}

// TestSchemaAgreesWithValidator walks the validator's description (rootS)
// beside the schema generated from the Go types: both must know the same
// keys, required keys, enums, integer bounds and string patterns, so the
// editor's view and the parser's cannot drift.
func TestSchemaAgreesWithValidator(t *testing.T) {
	a := &agreement{t: t, doc: schematest.Decode(t, JSONSchema)}
	a.check("", rootS, a.doc.Root)
	if a.objects < 10 {
		t.Errorf("compared only %d objects", a.objects)
	}
}

type agreement struct {
	t       *testing.T
	doc     *schematest.Doc
	objects int
}

func (a *agreement) check(path string, s *schema, m map[string]any) {
	t := a.t
	m = a.doc.Resolve(m)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s", or(path, "<root>"), fmt.Sprintf(format, args...))
	}
	switch s.kind {
	case kObject:
		a.objects++
		if s.shorthand != "" {
			alts, _ := m["oneOf"].([]any)
			if len(alts) != 2 {
				fail("shorthand %q: schema has no oneOf of scalar and object: %v", s.shorthand, m)
				return
			}
			m = alts[1].(map[string]any)
		}
		got := a.doc.Keys(or(path, "<root>"), m)
		props, _ := m["properties"].(map[string]any)
		var names, req []string
		for _, f := range s.fields {
			names = append(names, f.name)
			if f.required {
				req = append(req, f.name)
			}
			p, ok := props[f.name].(map[string]any)
			if !ok {
				fail("schema has no property %q", f.name)
				continue
			}
			a.check(join(path, f.name), f.s, p)
		}
		if !slices.Equal(got, slices.Sorted(slices.Values(names))) {
			fail("schema keys %v, validator keys %v", got, names)
		}
		if got := strs(m["required"]); !slices.Equal(got, req) {
			fail("schema requires %v, validator %v", got, req)
		}
	case kList:
		if m["type"] != "array" {
			fail("not an array in the schema")
			return
		}
		a.check(path+"[]", s.elem, m["items"].(map[string]any))
	case kStringMap:
		if m["type"] != "object" {
			fail("not an object in the schema")
			return
		}
		if s.keyRule != nil {
			names, _ := m["propertyNames"].(map[string]any)
			a.rule(path+" keys", s.keyRule, names)
		}
		if s.elem != nil {
			a.check(path+".*", s.elem, m["additionalProperties"].(map[string]any))
		} else {
			values, _ := m["additionalProperties"].(map[string]any)
			a.rule(path+" values", s.valueRule, values)
		}
		got, has := m["maxProperties"].(float64)
		if (s.maxKeys == 0) == has || has && int(got) != s.maxKeys {
			fail("schema maxProperties %v, validator %d", m["maxProperties"], s.maxKeys)
		}
	case kEnum:
		if got := strs(m["enum"]); !slices.Equal(got, s.enum) {
			fail("schema enum %v, validator %v", got, s.enum)
		}
	case kInt:
		if m["type"] != "integer" {
			fail("type %v, want integer", m["type"])
		}
		for k, v := range map[string]*int{"minimum": s.min, "maximum": s.max} {
			got, has := m[k].(float64)
			if (v == nil) == has || v != nil && int(got) != *v {
				fail("schema %s %v, validator %v", k, m[k], deref(v))
			}
		}
	case kString:
		if m["type"] != "string" {
			fail("type %v, want string", m["type"])
		}
		a.rule(path, s.rule, m)
	case kBool:
		if m["type"] != "boolean" {
			fail("type %v, want boolean", m["type"])
		}
	case kDuration, kQuantity, kCPU:
		want := map[kind]string{kDuration: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, kQuantity: quantityPattern, kCPU: cpuPattern}[s.kind]
		if m["pattern"] != want {
			fail("pattern %v, want %v", m["pattern"], want)
		}
	case kStringList:
		if alts, _ := m["oneOf"].([]any); len(alts) != 2 {
			fail("not a string or list of strings: %v", m)
		}
	default:
		fail("kind %d not compared", s.kind)
	}
}

func (a *agreement) rule(path string, r *rule, m map[string]any) {
	a.t.Helper()
	var want map[string]any
	if r != nil {
		b, _ := json.Marshal(r.jsonSchema())
		_ = json.Unmarshal(b, &want)
	}
	for _, k := range []string{"pattern", "maxLength", "not"} {
		if fmt.Sprint(m[k]) != fmt.Sprint(want[k]) {
			a.t.Errorf("%s: schema %s %v, validator rule %v", path, k, m[k], want[k])
		}
	}
}

// manyPairs writes n distinct pairs of a flow mapping.
func manyPairs(n int) string {
	pairs := make([]string, n)
	for i := range pairs {
		pairs[i] = fmt.Sprintf("k%d: v", i)
	}
	return strings.Join(pairs, ", ")
}

func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestSchemaValidatesExamples checks every example spec, and the valid
// specs of the tests, against schema.json; and that it refuses what the
// parser refuses for shape (unknown keys, enums, bounds, names).
func TestSchemaValidatesExamples(t *testing.T) {
	s := schematest.Compile(t, SchemaFile, SchemaID)
	files, _ := filepath.Glob("../../examples/deploy/*.yaml")
	web, _ := filepath.Glob("../../examples/*/deploy.yaml")
	files = append(files, web...)
	files = slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == "node-config.yaml" })
	if len(files) == 0 {
		t.Fatal("no example specs")
	}
	docs := map[string][]byte{"good": []byte(good)}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = b
		if !strings.Contains(string(b), "yaml-language-server: $schema=../../noderuntime/spec/"+SchemaFile+"\n") {
			t.Errorf("%s has no yaml-language-server line for %s", f, SchemaFile)
		}
	}
	for name, b := range docs {
		if _, err := Parse(name, b); err != nil {
			t.Errorf("parser: %v", err)
		}
		if err := schematest.Validate(s, b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	base := "version: v1\ndeployment: d\nservices:\n  web:\n    image: busybox\n"
	for _, bad := range []string{
		"version: v2\ndeployment: d\nservices: {web: {image: busybox}}\n",
		"version: v1\ndeployment: Bad_Name\nservices: {web: {image: busybox}}\n",
		"version: v1\nservices: {web: {image: busybox}}\n",
		base + "    bogus: 1\n",
		base + "    network_mode: nat\n",
		base + "    endpoints: [{name: e, port: 0}]\n",
		base + "    scale: {replicas: 1001}\n",
		base + "    resources: {memory: lots}\n",
		base + "    storage: [{type: bind, source: rel, target: /x}]\n",
		base + "    labels: {zlayer.service: x}\n",
		base + "    health: {interval: soon, check: {type: tcp, port: 80}}\n",
		base + "    node_selector: {-disk: ssd}\n",
		base + "    node_selector: {disk: -ssd}\n",
		base + "    node_selector: {" + strings.Repeat("a", 64) + ": x}\n",
		base + "    node_selector: {" + manyPairs(MaxNodeSelector+1) + "}\n",
	} {
		if err := schematest.Validate(s, []byte(bad)); err == nil {
			t.Errorf("schema accepts %q", bad)
		}
		if _, err := Parse("s.yaml", []byte(bad)); err == nil {
			t.Errorf("parser accepts %q", bad)
		}
	}
}
