package report

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one bar group's values, one per category.
type Series struct {
	Name   string
	Values []float64
}

// Bars writes a grouped bar chart (one group per category, one bar per
// series) as a PNG.
func Bars(path, title, ylabel string, categories []string, series []Series) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	w := vg.Points(60 / float64(max(1, len(series))))
	for i, s := range series {
		vals := make(plotter.Values, len(categories))
		for j := range categories {
			if j < len(s.Values) && !math.IsNaN(s.Values[j]) {
				vals[j] = s.Values[j]
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("%s: %w", title, err)
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = vg.Length(float64(i)-float64(len(series)-1)/2) * w
		p.Add(bars)
		if len(series) > 1 {
			p.Legend.Add(s.Name, bars)
		}
	}
	// Headroom above the highest bar for the legend.
	top := 0.0
	for _, s := range series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				top = max(top, v)
			}
		}
	}
	if top > 0 {
		p.Y.Max = top * 1.2
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.NominalX(categories...)
	// Bar widths are in points, not data units: room for half a group on
	// either side.
	p.X.Min, p.X.Max = -0.6, float64(len(categories))-0.4
	p.Add(plotter.NewGrid())
	return p.Save(vg.Length(max(6, 1.4*float64(len(categories))))*vg.Inch, 4*vg.Inch, path)
}

// Line is one curve of a line chart.
type Line struct {
	Name string
	X, Y []float64
}

// Lines writes a line chart with points as a PNG. logX and logY use
// logarithmic axes (values ≤ 0 are left out there).
func Lines(path, title, xlabel, ylabel string, lines []Line, logX, logY bool) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.Y.Min = 0
	}
	n := 0
	for i, l := range lines {
		var pts plotter.XYs
		for j := range l.X {
			if j >= len(l.Y) || math.IsNaN(l.Y[j]) || (logX && l.X[j] <= 0) || (logY && l.Y[j] <= 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: l.X[j], Y: l.Y[j]})
		}
		if len(pts) == 0 {
			continue
		}
		n++
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("%s: %w", title, err)
		}
		c := plotutil.Color(i)
		line.Color = c
		points.Color = c
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(l.Name, line, points)
	}
	if n == 0 {
		return fmt.Errorf("%s: no points", title)
	}
	if !logY {
		// Headroom above the curves for the legend.
		top := 0.0
		for _, l := range lines {
			for _, y := range l.Y {
				if !math.IsNaN(y) {
					top = max(top, y)
				}
			}
		}
		p.Y.Max = top * (1.1 + 0.08*float64(n))
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}
