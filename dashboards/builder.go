package dashboards

import (
	"fmt"
	"sort"
)

// ds is the datasource every panel and target uses: the dashboard's datasource variable.
var ds = DatasourceRef{Type: "prometheus", UID: "${datasource}"}

// builder lays panels out left to right, wrapping at 24 columns, and numbers them.
type builder struct {
	d      *Dashboard
	o      Options
	x, y   int
	lineH  int
	nextID int
}

func newDashboard(o Options, uid, title, description string, tags []string, vars ...Variable) *builder {
	d := &Dashboard{
		UID: uid, Title: title, Description: description, Tags: tags,
		Timezone: "browser", Editable: true, GraphTooltip: 1, Refresh: "1m", SchemaVersion: 39, Version: 1,
		Time:       TimeRange{From: "now-6h", To: "now"},
		Templating: Templating{List: append([]Variable{datasourceVariable(), clusterVariable(o)}, vars...)},
		Annotations: Annotations{List: []map[string]any{{
			"builtIn": 1, "datasource": map[string]any{"type": "grafana", "uid": "-- Grafana --"},
			"enable": true, "hide": true, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
		}}},
		Links: []Link{{Title: "ipamwatch", Type: "dashboards", Tags: []string{"ipamwatch"}, AsDropdown: true, IncludeVars: false, KeepTime: true}},
	}
	return &builder{d: d, o: o, nextID: 1}
}

func datasourceVariable() Variable {
	return Variable{
		Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus",
		Current: map[string]any{}, Options: []any{}, Refresh: 1,
	}
}

// queryVariable is a label_values variable over a series.
func queryVariable(name, label, description, query string, multi bool) Variable {
	v := Variable{
		Name: name, Label: label, Type: "query", Description: description,
		Query:      map[string]any{"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
		Definition: query, Datasource: &ds, Current: map[string]any{}, Options: []any{}, Refresh: 2, Sort: 1,
		Multi: multi, IncludeAll: multi,
	}
	if multi {
		v.AllValue = ".*"
	}
	return v
}

// row starts a new row; question says what the row answers (docs/dashboards.md).
func (b *builder) row(title, question string) {
	b.newline()
	f := false
	b.d.Panels = append(b.d.Panels, &Panel{ID: b.id(), Type: "row", Title: title, Description: question,
		GridPos: GridPos{H: 1, W: 24, X: 0, Y: b.y}, Collapsed: &f, Panels: []*Panel{}})
	b.d.Rows = append(b.d.Rows, RowDoc{Title: title, Question: question})
	b.y++
}

func (b *builder) newline() {
	if b.x > 0 {
		b.y += b.lineH
		b.x, b.lineH = 0, 0
	}
}

func (b *builder) id() int { b.nextID++; return b.nextID - 1 }

// add places p with width w and height h.
func (b *builder) add(w, h int, p *Panel) {
	if b.x+w > 24 {
		b.newline()
	}
	p.ID = b.id()
	p.GridPos = GridPos{H: h, W: w, X: b.x, Y: b.y}
	p.Datasource = &ds
	for i := range p.Targets {
		p.Targets[i].RefID = fmt.Sprintf("%c", 'A'+i)
		p.Targets[i].Datasource = ds
	}
	b.x += w
	if h > b.lineH {
		b.lineH = h
	}
	b.d.Panels = append(b.d.Panels, p)
}

// done lays out the last line and puts the cluster matcher on every query.
func (b *builder) done() *Dashboard {
	b.newline()
	for _, p := range b.d.Panels {
		for i := range p.Targets {
			p.Targets[i].Expr = withCluster(p.Targets[i].Expr, b.o)
		}
	}
	for i, v := range b.d.Templating.List {
		if v.Type == "query" && v.Name != "cluster" {
			q := withCluster(v.Definition, b.o)
			b.d.Templating.List[i].Definition = q
			b.d.Templating.List[i].Query = map[string]any{"query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery"}
		}
	}
	return b.d
}

// Targets.

// series is a range query drawn over time.
func series(expr, legend string) Target {
	return Target{Expr: expr, LegendFormat: legend, Range: true, Format: "time_series"}
}

// now is an instant query shown as a table or a single value.
func now(expr, legend string) Target {
	return Target{Expr: expr, LegendFormat: legend, Instant: true, Format: "table"}
}

// nowValue is an instant query for stat and bar-gauge panels.
func nowValue(expr, legend string) Target {
	return Target{Expr: expr, LegendFormat: legend, Instant: true, Format: "time_series"}
}

// Panels.

func fieldConfig(unit string) *FieldConfig {
	return &FieldConfig{Defaults: FieldDefaults{Unit: unit, Mappings: []any{}}, Overrides: []map[string]any{}}
}

func timeseries(title, description, unit string, stacked bool, targets ...Target) *Panel {
	fc := fieldConfig(unit)
	stack := "none"
	fill := 10
	if stacked {
		stack, fill = "normal", 60
	}
	fc.Defaults.Custom = map[string]any{
		"drawStyle": "line", "lineWidth": 1, "fillOpacity": fill, "showPoints": "never", "spanNulls": false,
		"stacking": map[string]any{"mode": stack, "group": "A"},
	}
	return &Panel{Type: "timeseries", Title: title, Description: description, Targets: targets, FieldConfig: fc,
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "table", "placement": "right", "showLegend": true, "calcs": []string{"lastNotNull", "max"}},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		}}
}

func stat(title, description, unit string, thresholds *Thresholds, targets ...Target) *Panel {
	fc := fieldConfig(unit)
	fc.Defaults.Thresholds = thresholds
	return &Panel{Type: "stat", Title: title, Description: description, Targets: targets, FieldConfig: fc,
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "background", "graphMode": "area", "justifyMode": "auto", "textMode": "value_and_name",
			"orientation": "auto",
		}}
}

func bargauge(title, description, unit string, max *float64, thresholds *Thresholds, targets ...Target) *Panel {
	fc := fieldConfig(unit)
	fc.Defaults.Thresholds = thresholds
	fc.Defaults.Min = ptr(0.0)
	fc.Defaults.Max = max
	return &Panel{Type: "bargauge", Title: title, Description: description, Targets: targets, FieldConfig: fc,
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"displayMode":   "gradient", "orientation": "horizontal", "showUnfilled": true, "valueMode": "color",
		}}
}

// table shows instant queries joined on their labels (Grafana's merge transformation), with the
// time column and unwanted labels hidden.
func table(title, description string, hide []string, rename map[string]string, links []DataLink, targets ...Target) *Panel {
	excluded := map[string]any{"Time": true, "__name__": true, "job": true, "instance": true}
	for _, h := range hide {
		excluded[h] = true
	}
	names := map[string]any{}
	for k, v := range rename {
		names[k] = v
	}
	fc := fieldConfig("")
	fc.Defaults.Links = links
	return &Panel{Type: "table", Title: title, Description: description, Targets: targets, FieldConfig: fc,
		Options: map[string]any{"showHeader": true, "cellHeight": "sm", "footer": map[string]any{"show": false}},
		Transformations: []map[string]any{
			{"id": "merge", "options": map[string]any{}},
			{"id": "organize", "options": map[string]any{"excludeByName": excluded, "renameByName": names}},
		}}
}

func ptr[T any](v T) *T { return &v }

// steps builds thresholds: base colour, then (value, colour) pairs.
func steps(base string, pairs ...any) *Thresholds {
	t := &Thresholds{Mode: "absolute", Steps: []Step{{Color: base}}}
	for i := 0; i+1 < len(pairs); i += 2 {
		t.Steps = append(t.Steps, Step{Value: ptr(toFloat(pairs[i])), Color: pairs[i+1].(string)})
	}
	return t
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	panic(fmt.Sprintf("threshold value %v (%T)", v, v))
}

// units sets the unit of table columns by their (renamed) display name.
func units(p *Panel, byName map[string]string) *Panel {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, map[string]any{
			"matcher":    map[string]any{"id": "byName", "options": n},
			"properties": []map[string]any{{"id": "unit", "value": byName[n]}},
		})
	}
	return p
}
