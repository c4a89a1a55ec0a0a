package jsonschema

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type word string

func (word) JSONSchema(*Generator) Schema { return Schema{"type": "string", "pattern": "^[a-z]+$"} }

type ref struct {
	Name string `yaml:"name" required:"true"`
}

func (ref) JSONSchemaShorthand() Schema { return Schema{"type": "string"} }

type common struct {
	Shared bool `yaml:"shared"`
}

type node struct {
	Next *node `yaml:"next"`
}

type root struct {
	common
	Inline struct {
		Deep int `yaml:"deep"`
	} `yaml:",inline"`
	Size    int64             `yaml:"-" key:"size" schema:"size"`
	Hidden  string            `yaml:"-"`
	JSON    string            `json:"json_name,omitempty"`
	Mode    string            `yaml:"mode" enum:"a,b" doc:"The mode."`
	Port    int               `yaml:"port" minimum:"1" maximum:"9" required:"true"`
	Wait    time.Duration     `yaml:"wait"`
	Word    word              `yaml:"word"`
	Ref     ref               `yaml:"ref"`
	Node    node              `yaml:"node"`
	Env     map[string]string `yaml:"env" keys:"size"`
	Refs    map[string]*ref   `yaml:"refs"`
	List    []float64         `yaml:"list" nullable:"true"`
	untyped string
}

func generate(t *testing.T, v any, d Document) map[string]any {
	t.Helper()
	b, err := Generate(v, d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return m
}

func get(t *testing.T, m any, path string) any {
	t.Helper()
	for _, k := range strings.Split(path, ".") {
		switch x := m.(type) {
		case map[string]any:
			m = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				t.Fatalf("%s: no item %q", path, k)
			}
			m = x[i]
		default:
			t.Fatalf("%s: %q is not in an object or a list", path, k)
		}
	}
	return m
}

func TestGenerate(t *testing.T) {
	m := generate(t, root{}, Document{ID: "x", Title: "T", Formats: map[string]Schema{"size": {"type": "string", "pattern": "^[0-9]+$"}}, Root: Schema{"minProperties": 1}})
	props := get(t, m, "properties").(map[string]any)
	var names []string
	for k := range props {
		names = append(names, k)
	}
	want := "deep,env,json_name,list,mode,node,port,ref,refs,shared,size,wait,word"
	if got := strings.Join(slices.Sorted(slices.Values(names)), ","); got != want {
		t.Errorf("properties %s, want %s", got, want)
	}
	for path, want := range map[string]any{
		"$schema":                                   Draft,
		"$id":                                       "x",
		"title":                                     "T",
		"minProperties":                             1.0,
		"additionalProperties":                      false,
		"properties.size.pattern":                   "^[0-9]+$",
		"properties.mode.description":               "The mode.",
		"properties.port.minimum":                   1.0,
		"properties.port.maximum":                   9.0,
		"properties.wait.pattern":                   DurationPattern,
		"properties.word.pattern":                   "^[a-z]+$",
		"properties.ref.$ref":                       "#/$defs/ref",
		"properties.node.$ref":                      "#/$defs/node",
		"properties.env.propertyNames.type":         "string",
		"properties.refs.additionalProperties.$ref": "#/$defs/ref",
		"properties.list.anyOf.0.type":              "null",
		"properties.list.anyOf.1.items.type":        "number",
		"$defs.node.properties.next.$ref":           "#/$defs/node",
	} {
		if got := get(t, m, path); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if got := get(t, m, "required"); !reflect.DeepEqual(got, []any{"port"}) {
		t.Errorf("required = %v", got)
	}
	if got := get(t, m, "properties.mode.enum"); !reflect.DeepEqual(got, []any{"a", "b"}) {
		t.Errorf("enum = %v", got)
	}
	if got := get(t, m, "properties.env.additionalProperties.type"); !reflect.DeepEqual(got, []any{"string", "number", "boolean"}) {
		t.Errorf("map of strings takes %v, want any scalar", got)
	}
	short := get(t, m, "$defs.ref.oneOf").([]any)
	if len(short) != 2 || get(t, short[0], "type") != "string" || get(t, short[1], "required") == nil {
		t.Errorf("shorthand: %v", short)
	}
}

func TestNonEmptyStrings(t *testing.T) {
	m := generate(t, root{}, Document{NonEmptyStrings: true, Formats: map[string]Schema{"size": {}}})
	if got := get(t, m, "properties.json_name.minLength"); got != 1.0 {
		t.Errorf("minLength = %v", got)
	}
	if got := get(t, m, "properties.mode.minLength"); got != nil {
		t.Errorf("an enum keeps minLength %v", got)
	}
}

// Two named types of one name get two $defs entries.
func TestNameClash(t *testing.T) {
	type ref struct {
		Other bool `yaml:"other"`
	}
	type both struct {
		A ref     `yaml:"a"`
		B rootRef `yaml:"b"`
	}
	m := generate(t, both{}, Document{})
	a, b := get(t, m, "properties.a.$ref"), get(t, m, "properties.b.$ref")
	if a == b {
		t.Errorf("both refer to %v", a)
	}
}

type rootRef = ref

func TestErrors(t *testing.T) {
	type bad struct {
		N int `yaml:"n" minimum:"one"`
	}
	if _, err := Generate(bad{}, Document{}); err == nil || !strings.Contains(err.Error(), "minimum") {
		t.Errorf("bad minimum: %v", err)
	}
	type unknown struct {
		S string `yaml:"s" schema:"nope"`
	}
	if _, err := Generate(unknown{}, Document{}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown format: %v", err)
	}
	type fn struct {
		F func() `yaml:"f"`
	}
	if _, err := Generate(fn{}, Document{}); err == nil {
		t.Error("a func field has no schema, want an error")
	}
	if _, err := Generate(3, Document{}); err == nil {
		t.Error("an int root, want an error")
	}
}

func TestStable(t *testing.T) {
	d := Document{Formats: map[string]Schema{"size": {}}}
	a, _ := Generate(root{}, d)
	b, _ := Generate(reflect.TypeFor[*root](), d)
	if string(a) != string(b) {
		t.Error("the same type gives two documents")
	}
}

func TestOneOrList(t *testing.T) {
	s := OneOrList(Schema{"type": "string"})
	alts := s["oneOf"].([]any)
	if len(alts) != 2 || alts[0].(Schema)["type"] != "string" || alts[1].(Schema)["type"] != "array" {
		t.Errorf("OneOrList = %v", s)
	}
}
