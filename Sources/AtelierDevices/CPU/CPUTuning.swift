import CAtelier
import Foundation

/// The CPU path's tunables for convolutions. `atelier-bench --device cpu
/// --tune --save` measures candidates on the model layers and stores the
/// best for this CPU; `CPUBackend()` uses it, else these defaults (chosen
/// on the development machine's AVX-512 Zen 4 with 1 MB of L2 per core).
public struct CPUTuning: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Bytes of columns and GEMM operands per chunk of samples (see
    /// CPUConvolution): about two of the measured machine's L2.
    public var convolutionChunkBytes = 2 << 20
    /// Layers with at least this many input channels use pixel-major
    /// columns (contiguous runs of C floats), the others channel-major.
    public var pixelMajorMinChannels = 8
    /// Those layers read the image in place through pointers instead of
    /// building columns (CPUConvolution.Algorithm.indirect). By default on
    /// CPUs with AVX-512, for which its register tiles are sized. AVX2 CPUs
    /// get tiles of their own (6 x 16 floats, cpu_tiles.h) but keep columns
    /// and OpenBLAS by default: emulated on the development machine (a build
    /// with -DATELIER_NO_AVX512, OPENBLAS_CORETYPE=Haswell), the weight
    /// gradients ran at 128-129 GFLOP/s on those tiles against 190-191 with
    /// columns (docs/benchmarks.md); `--tune` measures it on the machine.
    public var indirectConvolutions = CPUTuning.cpuHasAVX512
    /// The three passes of 4x4 convolutions at stride 2 with at least 16
    /// channels on either side run by Winograd's
    /// F(2x2, 2x2) over the kernel's stride phases (cpu_conv_winograd.c),
    /// 0.73 of the multiply-adds. On the register tiles, so by default where
    /// those are sized (AVX-512).
    public var winogradConvolutions = CPUTuning.cpuHasAVX512
    /// The three passes of 3x3 convolutions at stride 1 with at least 16
    /// channels both ways run by Winograd's F(4x4, 3x3) (CPUWinograd3x3), a
    /// quarter of the multiply-adds, on any CPU: its GEMMs are OpenBLAS's.
    public var winograd3x3Convolutions = true

    public static let defaults = CPUTuning()
    /// Whether this CPU runs AVX-512.
    public static let cpuHasAVX512 = atelier_cpu_has_avx512() != 0

    public init(convolutionChunkBytes: Int = 2 << 20, pixelMajorMinChannels: Int = 8,
                indirectConvolutions: Bool = CPUTuning.cpuHasAVX512,
                winogradConvolutions: Bool = CPUTuning.cpuHasAVX512, winograd3x3Convolutions: Bool = true) {
        self.convolutionChunkBytes = convolutionChunkBytes
        self.pixelMajorMinChannels = pixelMajorMinChannels
        self.indirectConvolutions = indirectConvolutions
        self.winogradConvolutions = winogradConvolutions
        self.winograd3x3Convolutions = winograd3x3Convolutions
    }

    /// Files saved before `indirectConvolutions`, `winogradConvolutions` or
    /// `winograd3x3Convolutions` existed still load, with their defaults.
    public init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        self.init(convolutionChunkBytes: try values.decode(Int.self, forKey: .convolutionChunkBytes),
                  pixelMajorMinChannels: try values.decode(Int.self, forKey: .pixelMajorMinChannels),
                  indirectConvolutions: try values.decodeIfPresent(Bool.self, forKey: .indirectConvolutions)
                      ?? CPUTuning.cpuHasAVX512,
                  winogradConvolutions: try values.decodeIfPresent(Bool.self, forKey: .winogradConvolutions)
                      ?? CPUTuning.cpuHasAVX512,
                  winograd3x3Convolutions: try values.decodeIfPresent(Bool.self, forKey: .winograd3x3Convolutions) ?? true)
    }

    public var description: String {
        "conv-chunk=\(convolutionChunkBytes >> 10)KB pixel-major-from=\(pixelMajorMinChannels)ch"
            + (indirectConvolutions ? " indirect" : "") + (winogradConvolutions ? " winograd" : "")
            + (winograd3x3Convolutions ? " winograd-3x3" : "")
    }

    func validate() throws {
        guard convolutionChunkBytes >= 1, pixelMajorMinChannels >= 1 else {
            throw ShapeError("CPU tuning \(self): sizes must be positive")
        }
    }
}

/// Where `--tune --save` keeps the CPU path's tuning: one JSON file per CPU
/// model and core count, next to the OpenCL tunings in the user's cache.
public enum CPUTuningStore {
    /// "model name|cores" from /proc/cpuinfo, so a copied cache does not
    /// carry one machine's tuning to another.
    static var machineKey: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = info.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "\(model)|\(Parallel.cores)"
    }

    /// The file in the user's Atelier cache.
    public static func url() -> URL? {
        url(cacheRoot: ProgramCache.defaultDirectory()?.deletingLastPathComponent())
    }

    /// The file under another cache root.
    public static func url(cacheRoot: URL?) -> URL? {
        cacheRoot?.appendingPathComponent("tuning").appendingPathComponent("cpu-\(Hash.hex(machineKey)).json")
    }

    /// The saved tuning, or nil (an unreadable file is ignored: the defaults are always safe).
    public static func load() -> CPUTuning? { load(from: url()) }

    public static func load(from url: URL?) -> CPUTuning? {
        guard let url, let data = try? Data(contentsOf: url),
              let tuning = try? JSONDecoder().decode(CPUTuning.self, from: data),
              (try? tuning.validate()) != nil else { return nil }
        return tuning
    }

    public static func save(_ tuning: CPUTuning) throws -> URL {
        try TuningStore.write(tuning, to: url())
    }
}
