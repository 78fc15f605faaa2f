import Foundation

/// How the OpenCL path computes one pass of a convolution. Chosen per layer
/// shape and pass: `atelier-bench --tune` measures the candidates for the
/// device type on the models' layers and stores the fastest
/// (DeviceTuning.convolutions); shapes never tuned follow `ConvAlgorithm.rule`.
public enum ConvAlgorithm: Sendable, Hashable, Codable, CustomStringConvertible {
    /// im2col (col2im for the data gradient) and the device's tuned GEMM,
    /// through a column buffer of C*R*S x N*P*Q floats.
    case columns
    /// Kernels/conv.cl: one kernel reading the image where it lies. Each
    /// work-item accumulates `block` output channels (input channels for the
    /// data gradient) of one pixel (one tap for the weight gradient) in
    /// registers, in work-groups of `local` along the pixels; `block` 1 is
    /// a plain direct convolution.
    case implicitGemm(block: Int, local: Int)
    /// Kernels/conv.cl's direct convolution for CPU devices: explicit
    /// vectors of `width` channels (output channels; input channels for the
    /// data gradient), `pixels` pixels (taps for the weight gradient) per
    /// work-item, after the vector operand is laid out channels-last.
    case direct(width: Int, pixels: Int)

    public var description: String {
        switch self {
        case .columns: "im2col+gemm"
        case .implicitGemm(let block, let local): "implicit-gemm block=\(block) local=\(local)"
        case .direct(let width, let pixels): "direct width=\(width) pixels=\(pixels)"
        }
    }

    /// "columns", "implicit:BLOCK:LOCAL" or "direct:WIDTH:PIXELS" (as
    /// `atelier-bench --conv` takes it).
    public init?(parsing text: String) {
        let parts = text.split(separator: ":")
        switch parts.first {
        case "columns" where parts.count == 1: self = .columns
        case "implicit" where parts.count == 3:
            guard let block = Int(parts[1]), let local = Int(parts[2]) else { return nil }
            self = .implicitGemm(block: block, local: local)
        case "direct" where parts.count == 3:
            guard let width = Int(parts[1]), let pixels = Int(parts[2]) else { return nil }
            self = .direct(width: width, pixels: pixels)
        default: return nil
        }
    }

    func validate(maxWorkGroupSize: Int) throws {
        switch self {
        case .columns: break
        case .implicitGemm(let block, let local):
            guard (1...32).contains(block), local >= 1, local <= maxWorkGroupSize else {
                throw ShapeError("convolution algorithm \(self): block must be 1 to 32 and the work-group within the device's \(maxWorkGroupSize)")
            }
        case .direct(let width, let pixels):
            guard [2, 4, 8, 16].contains(width), (1...32).contains(pixels) else {
                throw ShapeError("convolution algorithm \(self): width must be 2, 4, 8 or 16 and pixels 1 to 32")
            }
        }
    }

    /// For shapes `--tune` has not measured. CPU devices: im2col + GEMM,
    /// faster than the direct kernels on 35 of the 36 passes of the models'
    /// layers on PoCL and tied on the last (docs/benchmarks.md,
    /// "Convolution algorithms on OpenCL").
    /// GPUs: implicit GEMM where one side of the layer has at most 4
    /// channels (the image models' first and last layers), whose column
    /// GEMM has 1 to 4 rows and fills a tiled GEMM's 64-row tiles with
    /// padding while the column buffer still costs a full pass each way;
    /// im2col + the tuned GEMM elsewhere. (Reasoned, not yet measured on
    /// a GPU: Tools/gpu-check runs `--tune` there.)
    static func rule(for pass: ConvPass, _ g: ConvGeometry, device: OpenCLDeviceInfo) -> ConvAlgorithm {
        guard device.kind == .gpu, device.hasDedicatedLocalMemory, min(g.inChannels, g.outChannels) <= 4 else {
            return .columns
        }
        let channels = pass == .backwardData ? g.inChannels : g.outChannels
        return .implicitGemm(block: min(channels, 8), local: min(128, device.maxWorkGroupSize))
    }
}

/// The three passes of a convolution, each with its own algorithm choice.
public enum ConvPass: String, Sendable, Codable, CaseIterable {
    case forward
    case backwardData = "backward-data"
    case backwardWeights = "backward-weights"

    /// The key of a pass on a shape in DeviceTuning.convolutions.
    public func key(_ g: ConvGeometry) -> String { "\(rawValue) \(g)" }

    /// Kernels/conv.cl names a family's kernel for this pass `conv_<family>_<suffix>`.
    var kernelSuffix: String { rawValue.replacingOccurrences(of: "-", with: "_") }
}

/// The grid of conv.cl's kernels, in one place for the backend, the tests
/// and the benchmark tool.
enum ConvKernelLaunch {
    /// Global sizes of the implicit kernel of `pass` with `block` rows per
    /// work-item (dimension 0 is rounded up to the work-group by `launch`).
    /// `pixels` pixels (taps) and `block` channels per work-item; the
    /// implicit kernels take one pixel each.
    static func global(_ pass: ConvPass, _ g: ConvGeometry, block: Int, pixels: Int = 1, slices: Int) -> [Int] {
        switch pass {
        case .forward:
            return [ceilDiv(g.batch * g.outHeight * g.outWidth, pixels), ceilDiv(g.outChannels, block)]
        case .backwardData:
            let phasePixels = g.batch * ceilDiv(g.height, g.strideH) * ceilDiv(g.width, g.strideW)
            return [ceilDiv(phasePixels, pixels), ceilDiv(g.inChannels, block), g.strideH * g.strideW]
        case .backwardWeights:
            return [ceilDiv(g.columnRows, pixels), ceilDiv(g.outChannels, block), slices]
        }
    }

    /// Batch slices of the weight gradient: enough work-items to give each
    /// compute unit `itemsPerUnit` (a GPU needs thousands in flight, a CPU
    /// device a few work-items per core), at most one slice per sample.
    static func slices(_ g: ConvGeometry, block: Int, pixels: Int = 1, device: OpenCLDeviceInfo) -> Int {
        let itemsPerUnit = device.kind == .gpu ? 2048 : (pixels > 1 ? 8 : 64)
        let items = ceilDiv(g.columnRows, pixels) * ceilDiv(g.outChannels, block)
        let wanted = ceilDiv(max(1, device.computeUnits) * itemsPerUnit, items)
        return max(1, min(g.batch, wanted))
    }

    static func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
}
