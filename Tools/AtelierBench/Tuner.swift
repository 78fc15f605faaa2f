import Atelier
import Foundation

/// Sweeps the GEMM blocking and the elementwise work-group size on a set of
/// workloads (square GEMM and the convolution GEMMs of the models) and
/// reports the fastest setting for this device.
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

    static var workloads: [BenchCase] {
        [BenchCatalogue.gemm("gemm 1024^3", GemmShape(m: 1024, n: 1024, k: 1024))]
        + BenchCatalogue.conv("dcgan", "D.conv2 64->128 4x4s2", ConvGeometry(batch: 64, inChannels: 64, height: 14, width: 14, outChannels: 128, kernel: 4, stride: 2, padding: 1))
        + BenchCatalogue.dense("gan", "G.dense3 512->1024", batch: 64, inputs: 512, outputs: 1024)
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
    /// GEMM blocking on the GEMM and convolution workloads, then (with the
    /// best GEMM) the elementwise vector width and work-group size.
    static func sweep(deviceID: String, info: OpenCLDeviceInfo, base: DeviceTuning, repeats: Int,
                      log: (String) -> Void) throws -> [(DeviceTuning, Double)] {
        let gemmRanked = try rank(candidates(for: info, base: base), workloads, deviceID: deviceID, repeats: repeats, label: "gemm", log: log)
        guard let bestGemm = gemmRanked.first?.0 else { return [] }
        let pointwiseRanked = try rank(pointwiseCandidates(base: bestGemm, info: info), pointwiseWorkloads,
                                       deviceID: deviceID, repeats: repeats, label: "elementwise", log: log)
        return pointwiseRanked.isEmpty ? gemmRanked : pointwiseRanked
    }

    static func rank(_ candidates: [DeviceTuning], _ cases: [BenchCase], deviceID: String, repeats: Int, label: String,
                     log: (String) -> Void) throws -> [(DeviceTuning, Double)] {
        let peak = DevicePeak(gflops: 1, gigabytesPerSecond: 1, units: 1)
        var results: [(DeviceTuning, Double)] = []
        for (i, candidate) in candidates.enumerated() {
            let backend = try OpenCLBackend(deviceID: deviceID, profiling: true, tuning: candidate)
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
