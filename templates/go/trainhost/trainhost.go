// Package trainhost is the thin helper a Go plugin uses so that its own file
// holds only the algorithm. It owns the Go side of the contract's plumbing:
// the collector workaround, parameter specs and typed, bounds-checked
// parameter access, column access with missing values and categorical codes,
// the errors, progress, cancel and log. It must not contain any algorithm.
//
// The generated bindings (`wit-bindgen go`, written by ./build into the
// trainhost_plugin_* folders) define the types used here.
package trainhost

import (
	"fmt"
	"math"
	"runtime/debug"
	"sort"

	host "wit_component/trainhost_plugin_0_1_0_host"
	types "wit_component/trainhost_plugin_0_1_0_types"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

// MissingCode is the code of a missing (or, at predict, unseen) value in a categorical column.
const MissingCode = math.MaxUint32

// The Go collector stays off except inside an export call. Between calls the
// host writes each argument into this module's memory through `cabi_realloc`,
// which allocates on the Go heap; with the collector on, a large argument
// makes an allocation start a collection there, and the collector reads the
// wall clock and polls timers: host calls, which the component model forbids
// inside `cabi_realloc`, so the plugin traps ("cannot leave component
// instance"; wasmtime issue 14318: the preview1 adapter's clock pause covers
// only the monotonic clock). Off at start, on while an export runs (see
// Collecting), and off again before it returns. That is safe because no
// import of contract 0.3.0 returns a list or a string, so `cabi_realloc`
// never runs inside an export; 0.4.0's collectives do (`sum`, `gather`):
// turn the collector off around those calls too.
func init() {
	debug.SetGCPercent(-1)
}

// Collecting turns the collector on for the export call that calls it and
// returns what turns it off again: `defer trainhost.Collecting()()` first
// thing in every exported function. Without it nothing is ever collected.
func Collecting() func() {
	debug.SetGCPercent(100)
	return func() { debug.SetGCPercent(-1) }
}

// IntSpec declares an integer parameter; give every number both bounds.
func IntSpec(name string, def, min, max int64, help string) types.ParamSpec {
	kind := types.MakeParamKindInt(types.IntSpec{Default: def, Min: witTypes.Some(min), Max: witTypes.Some(max)})
	return types.ParamSpec{Name: name, Help: help, Kind: kind}
}

// FloatSpec declares a float parameter; give every number both bounds.
func FloatSpec(name string, def, min, max float64, help string) types.ParamSpec {
	kind := types.MakeParamKindFloat(types.FloatSpec{Default: def, Min: witTypes.Some(min), Max: witTypes.Some(max)})
	return types.ParamSpec{Name: name, Help: help, Kind: kind}
}

// BoolSpec declares a boolean parameter.
func BoolSpec(name string, def bool, help string) types.ParamSpec {
	return types.ParamSpec{Name: name, Help: help, Kind: types.MakeParamKindBoolean(def)}
}

// ChoiceSpec declares a choice among fixed strings.
func ChoiceSpec(name, def string, choices []string, help string) types.ParamSpec {
	return types.ParamSpec{Name: name, Help: help, Kind: types.MakeParamKindChoice(types.ChoiceSpec{Default: def, Choices: choices})}
}

// InvalidParameter is the train error naming a parameter and what is wrong with it.
func InvalidParameter(name, reason string) types.TrainError {
	return types.MakeTrainErrorInvalidParameter(types.InvalidParameter{Name: name, Reason: reason})
}

// InvalidData is the train error for a table the plugin cannot use.
func InvalidData(format string, args ...any) types.TrainError {
	return types.MakeTrainErrorInvalidData(fmt.Sprintf(format, args...))
}

// Params is the request's parameters, checked against the specs `describe` returns.
type Params struct {
	values map[string]types.ParamValue
}

// ReadParams checks `params` against `specs`: a missing one takes its default,
// an unknown name, a wrong kind, an out-of-range number or an unknown choice
// is an invalid-parameter error. The host validates too, but `plugin check`
// and `estimate` rely on the plugin refusing on its own.
func ReadParams(specs []types.ParamSpec, params []types.Param) (Params, *types.TrainError) {
	out := Params{values: map[string]types.ParamValue{}}
	given := map[string]types.ParamValue{}
	for _, p := range params {
		given[p.Name] = p.Value
	}
	for _, s := range specs {
		value, ok := given[s.Name]
		delete(given, s.Name)
		if !ok {
			value = defaultOf(s.Kind)
		}
		if err := check(s, value); err != nil {
			return out, err
		}
		out.values[s.Name] = value
	}
	for name := range given {
		err := InvalidParameter(name, "unknown parameter")
		return out, &err
	}
	return out, nil
}

func defaultOf(kind types.ParamKind) types.ParamValue {
	switch kind.Tag() {
	case types.ParamKind_Int:
		return types.MakeParamValueInt(kind.Int().Default)
	case types.ParamKind_Float:
		return types.MakeParamValueFloat(kind.Float().Default)
	case types.ParamKind_Boolean:
		return types.MakeParamValueBoolean(kind.Boolean())
	default:
		return types.MakeParamValueChoice(kind.Choice().Default)
	}
}

func check(s types.ParamSpec, v types.ParamValue) *types.TrainError {
	bad := func(format string, args ...any) *types.TrainError {
		err := InvalidParameter(s.Name, fmt.Sprintf(format, args...))
		return &err
	}
	switch s.Kind.Tag() {
	case types.ParamKind_Int:
		spec := s.Kind.Int()
		if v.Tag() != types.ParamValue_Int {
			return bad("expected an integer")
		}
		if x := v.Int(); (spec.Min.IsSome() && x < spec.Min.Some()) || (spec.Max.IsSome() && x > spec.Max.Some()) {
			return bad("must be within [%d, %d], got %d", spec.Min.SomeOr(math.MinInt64), spec.Max.SomeOr(math.MaxInt64), x)
		}
	case types.ParamKind_Float:
		spec := s.Kind.Float()
		x := math.NaN()
		if v.Tag() == types.ParamValue_Float {
			x = v.Float()
		} else if v.Tag() == types.ParamValue_Int {
			x = float64(v.Int())
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return bad("expected a finite number")
		}
		if (spec.Min.IsSome() && x < spec.Min.Some()) || (spec.Max.IsSome() && x > spec.Max.Some()) {
			return bad("must be within [%g, %g], got %g", spec.Min.SomeOr(math.Inf(-1)), spec.Max.SomeOr(math.Inf(1)), x)
		}
	case types.ParamKind_Boolean:
		if v.Tag() != types.ParamValue_Boolean {
			return bad("expected true or false")
		}
	case types.ParamKind_Choice:
		if v.Tag() != types.ParamValue_Choice {
			return bad("expected one of %v", s.Kind.Choice().Choices)
		}
		for _, c := range s.Kind.Choice().Choices {
			if c == v.Choice() {
				return nil
			}
		}
		return bad("must be one of %v, got %q", s.Kind.Choice().Choices, v.Choice())
	}
	return nil
}

// Int is a checked integer parameter.
func (p Params) Int(name string) int64 { return p.values[name].Int() }

// Float is a checked float parameter (an integer given for it is converted).
func (p Params) Float(name string) float64 {
	if v := p.values[name]; v.Tag() == types.ParamValue_Int {
		return float64(v.Int())
	}
	return p.values[name].Float()
}

// Bool is a checked boolean parameter.
func (p Params) Bool(name string) bool { return p.values[name].Boolean() }

// Choice is a checked choice parameter.
func (p Params) Choice(name string) string { return p.values[name].Choice() }

// Numeric is a numeric column's values (NaN = missing), or false if the column is categorical.
func Numeric(data types.ColumnData) ([]float64, bool) {
	if data.Tag() != types.ColumnData_Numeric {
		return nil, false
	}
	return data.Numeric(), true
}

// Categorical is a categorical column's codes and levels (MissingCode = missing), or false if it is numeric.
func Categorical(data types.ColumnData) (types.Categorical, bool) {
	if data.Tag() != types.ColumnData_Categorical {
		return types.Categorical{}, false
	}
	return data.Categorical(), true
}

// IsMissing says whether a numeric value is missing (NaN; the host sends no infinities).
func IsMissing(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// Epoch reports epoch `epoch` of `total` with `metrics` and returns false once
// the job is cancelled: then stop and return the cancelled error.
func Epoch(epoch, total uint32, metrics map[string]float64) bool {
	list := make([]types.Metric, 0, len(metrics))
	for _, name := range sortedKeys(metrics) {
		list = append(list, types.Metric{Name: name, Value: metrics[name]})
	}
	host.ReportEpoch(epoch, total, list)
	return !host.Cancelled()
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Log writes a line to the job's log.
func Log(level host.LogLevel, format string, args ...any) {
	host.Log(level, fmt.Sprintf(format, args...))
}

// Info writes an info line to the job's log.
func Info(format string, args ...any) { Log(host.LogLevel_Info, format, args...) }
