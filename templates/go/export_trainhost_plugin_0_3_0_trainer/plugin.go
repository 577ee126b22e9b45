// Package export_trainhost_plugin_0_3_0_trainer is {{name}}, a trainhost
// plugin in Go (the package name is the one the generated bindings call).
// The skeleton algorithm is a linear model fitted by full-batch gradient
// descent: softmax regression for classification (with class probabilities),
// least squares for regression. Numbers are standardised (a missing one
// counts as the mean), categories one-hot coded (a missing or unseen level is
// all zeros). Replace the maths with yours; keep the shape: check the
// parameters before the data, report every epoch and stop when cancelled,
// and return deterministic model bytes.
package export_trainhost_plugin_0_3_0_trainer

import (
	"encoding/json"
	"math"

	"wit_component/trainhost"
	types "wit_component/trainhost_plugin_0_1_0_types"
	tables "wit_component/trainhost_plugin_0_2_0_tables"
	estimates "wit_component/trainhost_plugin_0_3_0_estimates"
	trainer "wit_component/trainhost_plugin_0_3_0_trainer"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

const format = "{{name}}/1"

var penalties = map[string]float64{"none": 0, "weak": 1e-4, "strong": 1e-2}

var params = []types.ParamSpec{
	trainhost.IntSpec("epochs", 100, 1, 10000, "Passes of gradient descent over the training rows"),
	trainhost.FloatSpec("learningRate", 0.5, 0.0001, 10, "Step size of each pass"),
	trainhost.BoolSpec("fitIntercept", true, "Learn a constant term"),
	trainhost.ChoiceSpec("penalty", "weak", []string{"none", "weak", "strong"}, "L2 penalty on the weights"),
}

// Describe names the plugin, its tasks and its parameters.
func Describe() types.PluginInfo {
	defer trainhost.Collecting()()
	return types.PluginInfo{
		Name:        "{{name}}",
		Version:     "0.1.0",
		Description: "Linear model by gradient descent (a Go template)",
		Tasks:       []types.Task{types.Task_Classification, types.Task_Regression},
		Params:      params,
	}
}

// encoded is how one feature column becomes inputs: a standardised number, or one input per level.
type encoded struct {
	Name   string  `json:"name"`
	Levels int     `json:"levels,omitempty"`
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"`
}

// model is what the model bytes hold (JSON: the same model gives the same bytes).
type model struct {
	Format     string     `json:"format"`
	Task       types.Task `json:"task"`
	Columns    []encoded  `json:"columns"`
	Outputs    int        `json:"outputs"`
	Weights    []float64  `json:"weights"`
	Bias       []float64  `json:"bias"`
	TargetMean float64    `json:"targetMean"`
	TargetStd  float64    `json:"targetStd"`
}

func fitColumns(columns []types.Column) []encoded {
	out := make([]encoded, len(columns))
	for j, c := range columns {
		if cat, ok := trainhost.Categorical(c.Data); ok {
			out[j] = encoded{Name: c.Name, Levels: len(cat.Levels)}
			continue
		}
		values, _ := trainhost.Numeric(c.Data)
		mean, std := meanStd(values, nil)
		out[j] = encoded{Name: c.Name, Mean: mean, Std: std}
	}
	return out
}

// meanStd of the known values (of `rows`, or all), with a std of 1 when it is 0.
func meanStd(values []float64, rows []int) (float64, float64) {
	var sum, sq, n float64
	each := func(v float64) {
		if !trainhost.IsMissing(v) {
			sum, sq, n = sum+v, sq+v*v, n+1
		}
	}
	if rows == nil {
		for _, v := range values {
			each(v)
		}
	} else {
		for _, i := range rows {
			each(values[i])
		}
	}
	if n == 0 {
		return 0, 1
	}
	mean := sum / n
	std := math.Sqrt(math.Max(sq/n-mean*mean, 0))
	if std == 0 {
		std = 1
	}
	return mean, std
}

// design is the dense row-major matrix (rows x width) of `columns` under `encoding`.
func design(columns []types.Column, rows int, encoding []encoded) ([]float64, int, string) {
	if len(columns) != len(encoding) {
		return nil, 0, "the table's columns are not the training table's"
	}
	width := 0
	for _, e := range encoding {
		width += max(e.Levels, 1)
	}
	x := make([]float64, rows*width)
	offset := 0
	for j, e := range encoding {
		if e.Levels > 0 {
			cat, ok := trainhost.Categorical(columns[j].Data)
			if !ok || len(cat.Codes) != rows {
				return nil, 0, "column " + e.Name + " must be categorical, one code per row"
			}
			for i, code := range cat.Codes[:rows] {
				if code != trainhost.MissingCode && int(code) < e.Levels {
					x[i*width+offset+int(code)] = 1
				}
			}
			offset += e.Levels
			continue
		}
		values, ok := trainhost.Numeric(columns[j].Data)
		if !ok || len(values) != rows {
			return nil, 0, "column " + e.Name + " must be numeric, one value per row"
		}
		for i, v := range values[:rows] {
			if !trainhost.IsMissing(v) {
				x[i*width+offset] = (v - e.Mean) / e.Std
			}
		}
		offset++
	}
	return x, width, ""
}

// scores of row i (one per output) into z.
func (m *model) scores(x []float64, width, i int, z []float64) {
	row := x[i*width : (i+1)*width]
	for k := range z {
		s := m.Bias[k]
		for j, w := range m.Weights[k*width : (k+1)*width] {
			s += w * row[j]
		}
		z[k] = s
	}
}

func softmax(z []float64) {
	top := math.Inf(-1)
	for _, v := range z {
		top = math.Max(top, v)
	}
	sum := 0.0
	for k := range z {
		z[k] = math.Exp(z[k] - top)
		sum += z[k]
	}
	for k := range z {
		z[k] /= sum
	}
}

// targets are the training rows with a known target and their class codes or standardised values.
type targets struct {
	rows    []int
	y       []float64
	classes int
}

func targetRows(task types.Task, target types.ColumnData, m *model) (targets, *types.TrainError) {
	var t targets
	if task == types.Task_Classification {
		cat, ok := trainhost.Categorical(target)
		if !ok {
			err := trainhost.InvalidData("classification needs a categorical target")
			return t, &err
		}
		t.classes = len(cat.Levels)
		for i, code := range cat.Codes {
			if code != trainhost.MissingCode && int(code) < t.classes {
				t.rows, t.y = append(t.rows, i), append(t.y, float64(code))
			}
		}
		return t, nil
	}
	values, ok := trainhost.Numeric(target)
	if !ok {
		err := trainhost.InvalidData("regression needs a numeric target")
		return t, &err
	}
	for i, v := range values {
		if !trainhost.IsMissing(v) {
			t.rows = append(t.rows, i)
		}
	}
	m.TargetMean, m.TargetStd = meanStd(values, t.rows)
	for _, i := range t.rows {
		t.y = append(t.y, (values[i]-m.TargetMean)/m.TargetStd)
	}
	return t, nil
}

// step is one pass of gradient descent; it returns the mean loss before the step.
func (m *model) step(x []float64, width int, t targets, p trainhost.Params, rate float64) float64 {
	grad := make([]float64, len(m.Weights))
	gradBias := make([]float64, m.Outputs)
	z := make([]float64, m.Outputs)
	loss := 0.0
	for r, i := range t.rows {
		m.scores(x, width, i, z)
		if m.Task == types.Task_Classification {
			softmax(z)
			c := int(t.y[r])
			loss -= math.Log(math.Max(z[c], 1e-300))
			z[c]--
		} else {
			z[0] -= t.y[r]
			loss += 0.5 * z[0] * z[0]
		}
		row := x[i*width : (i+1)*width]
		for k, dz := range z {
			gradBias[k] += dz
			g := grad[k*width : (k+1)*width]
			for j, v := range row {
				g[j] += dz * v
			}
		}
	}
	n := float64(len(t.rows))
	lambda := penalties[p.Choice("penalty")]
	for w := range m.Weights {
		m.Weights[w] -= rate * (grad[w]/n + lambda*m.Weights[w])
	}
	if p.Bool("fitIntercept") {
		for k := range m.Bias {
			m.Bias[k] -= rate * gradBias[k] / n
		}
	}
	return loss / n
}

// Train fits the model on the request's training table.
func Train(request types.TrainRequest) witTypes.Result[trainer.Trained, types.TrainError] {
	defer trainhost.Collecting()()
	fail := witTypes.Err[trainer.Trained, types.TrainError]
	// Parameters first: the host calls train once on a table without rows to check them.
	p, perr := trainhost.ReadParams(params, request.Params)
	if perr != nil {
		return fail(*perr)
	}
	if request.Train.Target.IsNone() {
		return fail(trainhost.InvalidData("a target column is needed"))
	}
	m := &model{Format: format, Task: request.Task, TargetStd: 1}
	t, terr := targetRows(request.Task, request.Train.Target.Some(), m)
	if terr != nil {
		return fail(*terr)
	}
	features := request.Train.Features
	if len(t.y) > 0 && t.rows[len(t.rows)-1] >= int(features.Rows) {
		return fail(trainhost.InvalidData("the target has more rows than the table"))
	}
	if len(t.rows) == 0 {
		return fail(trainhost.InvalidData("no training row has a target"))
	}
	m.Columns = fitColumns(features.Columns)
	x, width, bad := design(features.Columns, int(features.Rows), m.Columns)
	if bad != "" {
		return fail(trainhost.InvalidData("%s", bad))
	}
	m.Outputs = max(t.classes, 1)
	m.Weights, m.Bias = make([]float64, m.Outputs*width), make([]float64, m.Outputs)
	trainhost.Info("%d rows, %d inputs, %d outputs", len(t.rows), width, m.Outputs)
	// The loss of a step is measured at the next one: when it went up, the
	// step overshot, so the rate is halved from then on.
	epochs, loss, rate := uint32(p.Int("epochs")), math.Inf(1), p.Float("learningRate")
	for e := uint32(1); e <= epochs; e++ {
		before := loss
		loss = m.step(x, width, t, p, rate)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fail(types.MakeTrainErrorFailed("diverged: lower learningRate"))
		}
		if loss > before {
			rate /= 2
		}
		if !trainhost.Epoch(e, epochs, map[string]float64{"loss": loss}) {
			return fail(types.MakeTrainErrorCancelled())
		}
	}
	bytes, err := json.Marshal(m)
	if err != nil {
		return fail(types.MakeTrainErrorFailed(err.Error()))
	}
	trained := types.TrainedModel{
		Model:              bytes,
		Metrics:            []types.Metric{{Name: "trainingLoss", Value: loss}},
		FeatureImportances: witTypes.None[[]float64](),
		ClusterSizes:       witTypes.None[[]uint64](),
	}
	return witTypes.Ok[trainer.Trained, types.TrainError](trainer.Trained{Model: trained, Tables: []tables.ResultTable{}})
}

// Predict answers for every row of `features` with the model `bytes`.
func Predict(bytes []uint8, features types.Table) witTypes.Result[types.Predictions, types.PredictError] {
	defer trainhost.Collecting()()
	fail := witTypes.Err[types.Predictions, types.PredictError]
	var m model
	if err := json.Unmarshal(bytes, &m); err != nil || m.Format != format {
		return fail(types.MakePredictErrorInvalidModel("not a " + format + " model"))
	}
	rows := int(features.Rows)
	x, width, bad := design(features.Columns, rows, m.Columns)
	if bad != "" {
		return fail(types.MakePredictErrorInvalidData(bad))
	}
	z := make([]float64, m.Outputs)
	if m.Task == types.Task_Regression {
		values := make([]float64, rows)
		for i := range values {
			m.scores(x, width, i, z)
			values[i] = m.TargetMean + m.TargetStd*z[0]
		}
		return witTypes.Ok[types.Predictions, types.PredictError](types.MakePredictionsValues(values))
	}
	labels, probabilities := make([]uint32, rows), make([]float32, rows*m.Outputs)
	for i := range labels {
		m.scores(x, width, i, z)
		softmax(z)
		best := 0
		for k, v := range z {
			probabilities[i*m.Outputs+k] = float32(v)
			if v > z[best] {
				best = k
			}
		}
		labels[i] = uint32(best)
	}
	classes := types.ClassPredictions{Labels: labels, Probabilities: witTypes.Some(probabilities), NClasses: uint32(m.Outputs)}
	return witTypes.Ok[types.Predictions, types.PredictError](types.MakePredictionsClasses(classes))
}

// Estimate is contract 0.3.0's cost estimate: none here (the parameters are still checked).
func Estimate(task types.Task, given []types.Param, shape estimates.TableShape) witTypes.Result[witTypes.Option[estimates.Cost], types.TrainError] {
	defer trainhost.Collecting()()
	if _, err := trainhost.ReadParams(params, given); err != nil {
		return witTypes.Err[witTypes.Option[estimates.Cost], types.TrainError](*err)
	}
	return witTypes.Ok[witTypes.Option[estimates.Cost], types.TrainError](witTypes.None[estimates.Cost]())
}
