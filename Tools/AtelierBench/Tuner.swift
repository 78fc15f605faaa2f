import Atelier
import Foundation

/// Sweeps the GEMM blocking on the models' layers, the elementwise
/// work-group size, and each layer's convolution algorithm, and reports the
/// fastest setting for this device.
enum Tuner {
    struct Trial: Codable {
        var tuning: String
        var milliseconds: Double
    }

    static func candidates(for info: OpenCLDeviceInfo, base: DeviceTuning) -> [DeviceTuning] {
        var gemms: [DeviceTuning.Gemm] = []
        if info.kind == .cpu || info.localMemoryType != "local" {
            for rows in [4, 6, 8, 12] {
                for width in [8, 16] {
                    for (lx, ly) in [(1, 1), (2, 2), (4, 4), (8, 2), (8, 8)] {
                        gemms.append(.blocked(rows: rows, vectorWidth: width, localX: lx, localY: ly))
                    }
                }
            }
        } else {
            for (tm, tn, tk, wm, wn) in [(64, 64, 16, 4, 4), (128, 128, 16, 8, 8), (64, 64, 8, 4, 4), (128, 64, 16, 8, 4),
                                         (32, 32, 16, 2, 2), (64, 128, 16, 4, 8), (128, 128, 8, 8, 8), (32, 64, 16, 2, 4)] {
                gemms.append(.tiled(tileM: tm, tileN: tn, tileK: tk, workM: wm, workN: wn))
            }
        }
        return gemms.compactMap { g in
            var t = base
            t.gemm = g
            return (try? validated(t, info)) ?? nil
        }
    }

    private static func validated(_ t: DeviceTuning, _ info: OpenCLDeviceInfo) throws -> DeviceTuning? {
        // Same limits the backend checks; invalid candidates are skipped.
        _ = try OpenCLBackend.checkTuning(t, for: info)
        return t
    }

    /// The GEMMs training runs: every dense and convolution (as im2col +
    /// GEMM) pass of the models' layers at `batch`, so the blocking is
    /// ranked on the shapes it will run (thin, tall and short ones) rather
    /// than on a square GEMM.
    static func workloads(batch: Int) -> [BenchCase] {
        BenchCatalogue.all(batches: [batch]).filter { $0.group == "dense" || $0.group == "conv" }
    }

    static var pointwiseWorkloads: [BenchCase] {
        let chosen = ["sigmoid fwd", "relu grad", "bias add", "adam"]
        return BenchCatalogue.elementwise(count: 1 << 20).filter { c in chosen.contains { c.name.hasPrefix($0) } }
    }

    static func pointwiseCandidates(base: DeviceTuning, info: OpenCLDeviceInfo) -> [DeviceTuning] {
        [1, 4, 8, 16].flatMap { width in
            [64, 256].compactMap { local -> DeviceTuning? in
                var t = base
                t.pointwiseVector = width
                t.pointwiseLocal = local
                return (try? OpenCLBackend.checkTuning(t, for: info))
            }
        }
    }

    /// Two sweeps, each ranked by the total median time of its workloads:
    /// GEMM blocking on the models' dense and convolution layers at
    /// `batch`, then (with the best GEMM) the elementwise vector width and
    /// work-group size. (The convolution algorithms come after, per layer:
    /// `convolutionChoices`.)
    static func sweep(deviceID: String, info: OpenCLDeviceInfo, base: DeviceTuning, batch: Int, repeats: Int,
                      log: (String) -> Void) throws -> [(DeviceTuning, Double)] {
        let gemmRanked = try rank(candidates(for: info, base: base), workloads(batch: batch), deviceID: deviceID,
                                  repeats: repeats, label: "gemm", convolution: .columns, log: log)
        guard let bestGemm = gemmRanked.first?.0 else { return [] }
        let pointwiseRanked = try rank(pointwiseCandidates(base: bestGemm, info: info), pointwiseWorkloads,
                                       deviceID: deviceID, repeats: repeats, label: "elementwise", log: log)
        return pointwiseRanked.isEmpty ? gemmRanked : pointwiseRanked
    }

    /// The convolution algorithms worth measuring on this kind of device:
    /// the vectorised direct kernels on CPU devices, the implicit-GEMM
    /// kernels on GPUs, im2col + GEMM on both.
    static func convolutionCandidates(for info: OpenCLDeviceInfo) -> [ConvAlgorithm] {
        var list: [ConvAlgorithm] = [.columns]
        if info.kind == .cpu || info.localMemoryType != "local" {
            for width in [8, 16] { for pixels in [4, 8] { list.append(.direct(width: width, pixels: pixels)) } }
        } else {
            for block in [1, 4, 8, 16] {
                for local in [64, 128, 256] where local <= info.maxWorkGroupSize {
                    list.append(.implicitGemm(block: block, local: local))
                }
            }
        }
        return list
    }

    /// Times every candidate algorithm on each pass of the models' layers
    /// at `batches` (with the rest of `base`) and returns the fastest per
    /// pass and shape, as DeviceTuning.convolutions keys them.
    static func convolutionChoices(deviceID: String, info: OpenCLDeviceInfo, base: DeviceTuning, batches: [Int],
                                   repeats: Int, log: (String) -> Void) throws -> [String: ConvAlgorithm] {
        try convolutionChoices(deviceID: deviceID, info: info, base: base,
                               cases: BenchCatalogue.all(batches: batches).filter { $0.convolution != nil },
                               repeats: repeats, log: log)
    }

    static func convolutionChoices(deviceID: String, info: OpenCLDeviceInfo, base: DeviceTuning, cases: [BenchCase],
                                   repeats: Int, log: (String) -> Void) throws -> [String: ConvAlgorithm] {
        let candidates = convolutionCandidates(for: info)
        let peak = DevicePeak(gflops: 1, gigabytesPerSecond: 1, units: 1)
        var times: [[Double?]] = Array(repeating: Array(repeating: nil, count: candidates.count), count: cases.count)
        for (j, candidate) in candidates.enumerated() {
            var tuning = base
            tuning.convolution = candidate
            tuning.convolutions = nil
            let backend = try OpenCLBackend(deviceID: deviceID, profiling: true, tuning: tuning)
            for (i, c) in cases.enumerated() {
                do {
                    times[i][j] = try Measurement.run(c, on: backend, reference: nil, peak: peak, warmup: 1, repeats: repeats,
                                                      tolerance: 0).milliseconds
                } catch {
                    log("convolution \(candidate) on \(c.name): failed (\(error)); skipped")
                }
            }
            log("convolution [\(j + 1)/\(candidates.count)] \(candidate): timed on \(cases.count) passes")
        }
        var choices: [String: ConvAlgorithm] = [:]
        for (i, c) in cases.enumerated() {
            guard let (pass, geometry) = c.convolution,
                  let best = times[i].indices.filter({ times[i][$0] != nil }).min(by: { times[i][$0]! < times[i][$1]! }) else { continue }
            choices[pass.key(geometry)] = candidates[best]
            let columns = times[i][0].map { String(format: "; im2col+gemm %.3f ms", $0) } ?? ""
            log(String(format: "%@: %@, %.3f ms%@", c.name, candidates[best].description, times[i][best]!, columns))
        }
        return choices
    }

    /// `convolution`, when given, is used for every convolution while timing
    /// (the GEMM sweep times convolutions as im2col + GEMM).
    static func rank(_ candidates: [DeviceTuning], _ cases: [BenchCase], deviceID: String, repeats: Int, label: String,
                     convolution: ConvAlgorithm? = nil, log: (String) -> Void) throws -> [(DeviceTuning, Double)] {
        let peak = DevicePeak(gflops: 1, gigabytesPerSecond: 1, units: 1)
        var results: [(DeviceTuning, Double)] = []
        for (i, candidate) in candidates.enumerated() {
            var timed = candidate
            if let convolution {
                timed.convolution = convolution
                timed.convolutions = nil
            }
            let backend = try OpenCLBackend(deviceID: deviceID, profiling: true, tuning: timed)
            var total = 0.0
            do {
                for w in cases {
                    total += try Measurement.run(w, on: backend, reference: nil, peak: peak, warmup: 1, repeats: repeats, tolerance: 0).milliseconds
                }
            } catch {
                log("\(label) [\(i + 1)/\(candidates.count)] \(candidate): failed (\(error)); skipped")
                continue
            }
            log(String(format: "%@ [%d/%d] %@: %.3f ms", label, i + 1, candidates.count, candidate.description, total))
            results.append((candidate, total))
        }
        return results.sorted { $0.1 < $1.1 }
    }
}
