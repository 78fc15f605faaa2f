import Foundation
import Testing
@testable import AtelierModels

/// loss.png as a chart: its parts are checked in its pixels, its numbers
/// (ticks, labels, smoothing, range) directly.
struct LossChartTests {
    /// Pixels of `image` (RGB) in the rectangle for which `test` holds.
    static func count(_ image: PixelImage, x: Range<Int>, y: Range<Int>, _ test: (UInt8, UInt8, UInt8) -> Bool) -> Int {
        var n = 0
        for row in y { for column in x {
            let i = (row * image.width + column) * 3
            if test(image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]) { n += 1 }
        } }
        return n
    }

    @Test("Text is drawn: a font is found and its glyphs land on the canvas")
    func textIsDrawn() throws {
        let canvas = try Canvas(width: 120, height: 30)
        #expect(canvas.textWidth("Loss_D", size: 12) > 20)
        canvas.text("Loss_D", x: 4, y: 20, size: 12)
        let image = canvas.image()
        #expect(Self.count(image, x: 0..<120, y: 0..<30) { r, _, _ in r < 100 } > 30)
        #expect(throws: ImageFileError.self) { try Canvas(width: 0, height: 10) }
        #expect(throws: ImageFileError.self) { try Canvas(width: 40_000, height: 10) }
    }

    @Test("The running mean is centred, shorter at the ends, and skips NaN and infinities")
    func runningMean() {
        let mean = LossChart.runningMean([1, 2, 3, .nan, 5, .infinity], window: 3)
        #expect(mean[0] == 1.5 && mean[1] == 2 && mean[2] == 2.5 && mean[3] == 4 && mean[4] == 5 && mean[5] == 5)
        #expect(LossChart.runningMean([.nan, .nan], window: 1) == [nil, nil])
        #expect(LossChart.window(steps: 10) == 1 && LossChart.window(steps: 3000) == 101)
    }

    @Test("The value axis starts at 0, fits the means, and lets a single spike run off the top")
    func valueRange() {
        var values = [Float](repeating: 1, count: 1000)
        values[500] = 1e6
        let (bottom, top) = LossChart.valueRange(raw: [values], means: [LossChart.runningMean(values, window: 1).map { $0.map { min($0, 1) } }])
        #expect(bottom == 0 && top > 1 && top < 1.2)
        let negative = LossChart.valueRange(raw: [[-3, 2]], means: [[-3, 2]])
        #expect(negative.bottom < -3 && negative.top > 2)
        #expect(LossChart.valueRange(raw: [[0, 0]], means: [[0, 0]]) == (0, 1))
        #expect(LossChart.valueRange(raw: [[.nan]], means: [[nil]]) == (0, 1))
    }

    @Test("Ticks are round numbers labelled with the decimals their spacing needs")
    func ticksAndLabels() {
        let ticks = LossChart.ticks(0, 2.1)
        #expect(ticks == [0, 0.5, 1, 1.5, 2])
        #expect(ticks.map { LossChart.label($0, ticks: ticks) } == ["0.0", "0.5", "1.0", "1.5", "2.0"])
        let small = LossChart.ticks(0, 0.09)
        #expect(small.map { LossChart.label($0, ticks: small) }.last == "0.08")
        let huge = LossChart.ticks(0, 2.1e7)
        #expect(huge.map { LossChart.label($0, ticks: huge) } == ["0", "5e6", "10e6", "15e6", "20e6"])
        #expect(LossChart.stepTicks(96) == [0, 20, 40, 60, 80])
        #expect(LossChart.stepLabel(20_000) == "20k" && LossChart.stepLabel(1500) == "1500")
        #expect(LossChart.labelEvery(span: 100, labelWidth: 50) == 1 && LossChart.labelEvery(span: 10, labelWidth: 50) == 5)
    }

    @Test("A long run is drawn as the envelope of each pixel column's steps")
    func envelope() {
        let values = (0..<1000).map { Float($0 % 10) }
        let points = LossChart.envelope(values, columns: 100)
        #expect(points.count == 200)
        #expect(points.compactMap { $0?.value }.min() == 0 && points.compactMap { $0?.value }.max() == 9)
        #expect(LossChart.envelope([1, .nan, 2], columns: 100).map { $0 == nil } == [false, true, false])
    }

    @Test("The chart has a title, a legend in each series' colour, smoothed and faint series, and epoch marks")
    func chartParts() throws {
        // Three epochs of 100 steps; noisy series near the top leave the middle to the marks.
        var random = SystemRandomNumberGenerator()
        let series = (0..<3).map { k in
            LossChart.Series(name: "S\(k)", values: (0..<300).map { _ in 10 + Float.random(in: -0.3...0.3, using: &random) })
        }
        let image = try LossChart(title: "dcgan losses", series: series, stepsPerEpoch: 100).render(width: 800, height: 450)
        #expect(image.width == 800 && image.height == 450 && image.channels == 3)
        // Title: dark glyphs in the first rows.
        #expect(Self.count(image, x: 0..<300, y: 0..<28) { r, g, b in r < 60 && g < 60 && b < 60 } > 50)
        for (index, _) in series.enumerated() {
            let c = LossChart.colours[index]
            // The legend's swatch (and the bold mean) in the exact colour.
            #expect(Self.count(image, x: 0..<800, y: 28..<60) { ($0, $1, $2) == (c.red, c.green, c.blue) } > 10, "legend \(index)")
            #expect(Self.count(image, x: 100..<790, y: 60..<200) { ($0, $1, $2) == (c.red, c.green, c.blue) } > 100, "mean \(index)")
        }
        // The faint steps: the first colour at a quarter strength over white.
        let faint = LossChart.colours[0]
        #expect(Self.count(image, x: 100..<790, y: 60..<200) { r, g, b in
            abs(Int(r) - (Int(faint.red) + 3 * 255) / 4) < 6 && abs(Int(g) - (Int(faint.green) + 3 * 255) / 4) < 6
                && abs(Int(b) - (Int(faint.blue) + 3 * 255) / 4) < 6
        } > 20)
        // Epoch ends: two runs of columns holding the marks' gray, mid-plot.
        var columns: [Int] = []
        for x in 100..<790 where Self.count(image, x: x..<(x + 1), y: 250..<350, { r, g, b in
            r == g && g == b && r > 100 && r < 200 }) > 10 {
            columns.append(x)
        }
        let runs = columns.indices.filter { $0 == 0 || columns[$0] > columns[$0 - 1] + 1 }.count
        #expect(runs == 2, "mark columns \(columns)")
    }

    /// The grid once went up by 0.5 until it passed the largest loss: above
    /// about 1.7e7 adding 0.5 to a Float no longer changes it.
    @Test("The chart draws huge, infinite, NaN, negative and empty series without hanging", .timeLimit(.minutes(1)))
    func extremes() throws {
        for values: [[Float]] in [[[1.7e7, 2e7, 876_040]], [[3e38, .greatestFiniteMagnitude, 1]], [[.infinity, .nan, -.infinity]],
                                  [[-5e37, 2, 3], [1, 2]], [[]], [], [[0.5, 0.25]], [Array(repeating: 1e30, count: 100_000)]] {
            let chart = LossChart(title: "t", series: values.enumerated().map { .init(name: "L\($0.offset)", values: $0.element) },
                                  stepsPerEpoch: 1)
            let image = try chart.render(width: 320, height: 200)
            #expect(image.width == 320 && image.height == 200, "\(values.map(\.count))")
        }
        // The series still shows: pixels in its colour.
        let image = try LossChart(title: "t", series: [.init(name: "L", values: [1.7e7, 1e6, 876_040])]).render(width: 320, height: 200)
        let red = LossChart.colours[0]
        #expect(Self.count(image, x: 0..<320, y: 40..<200) { ($0, $1, $2) == (red.red, red.green, red.blue) } > 10)
        #expect(throws: ImageFileError.self) { try LossChart(title: "t", series: []).render(width: 30, height: 30) }
    }
}
