import Atelier
import Foundation

struct Report: Codable {
    var device: String
    var timing: String
    var tuning: String?
    var date: String
    var peak: DevicePeak
    var results: [CaseResult]
    var failures: [String]

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }

    func table(breakdown: Bool) -> String {
        var lines: [String] = []
        lines.append("device: \(device)")
        if let tuning { lines.append("tuning: \(tuning)") }
        lines.append("timing: \(timing), median of each case's runs")
        lines.append(String(format: "peak: %.1f GFLOP/s (%.1f per unit), %.1f GB/s copy (%.1f per unit), %d units",
                            peak.gflops, peak.gflopsPerUnit, peak.gigabytesPerSecond, peak.gigabytesPerSecondPerUnit, peak.units))
        lines.append("")
        let header = ["case", "ms", "rate", "per unit", "% peak", "vs CPU path"]
        var rows: [[String]] = []
        for r in results {
            let rate: String, perUnit: String
            if let g = r.gflops {
                rate = String(format: "%.1f GFLOP/s", g)
                perUnit = String(format: "%.1f", g / Double(peak.units))
            } else {
                let b = r.gigabytesPerSecond ?? 0
                rate = String(format: "%.1f GB/s", b)
                perUnit = String(format: "%.1f", b / Double(peak.units))
            }
            let check = r.maxRelativeError.map { String(format: "%.1e", $0) } ?? "-"
            rows.append([r.name, String(format: "%.3f", r.milliseconds), rate, perUnit, String(format: "%.0f%%", r.percentOfPeak), check])
            if breakdown, let kernels = r.kernels {
                for k in kernels {
                    rows.append(["    \(k.kernel)", String(format: "%.3f", k.milliseconds), "", "", "", ""])
                }
            }
        }
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        func format(_ row: [String]) -> String {
            row.enumerated().map { i, cell in
                i == 0 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  ")
        }
        lines.append(format(header))
        lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        lines += rows.map(format)
        let switches = Set((tuning ?? "").split(separator: " ").map(String.init))
        var byWinograd: [String] = []
        if switches.contains("winograd") { byWinograd.append("4x4 stride-2 passes with 16 or more channels performing about 0.73 of it") }
        if switches.contains("winograd-3x3") {
            byWinograd.append("3x3 stride-1 passes with 16 or more channels both ways about 0.25 (plus blocks overhanging the image)")
        }
        if !byWinograd.isEmpty {
            lines.append("convolution rates count the direct algorithm's work (effective rates); run by Winograd here: "
                         + byWinograd.joined(separator: "; "))
        }
        for f in failures { lines.append("FAILED: \(f)") }
        return lines.joined(separator: "\n")
    }
}
