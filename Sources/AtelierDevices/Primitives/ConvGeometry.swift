/// The shape of a 2-D convolution over NCHW input with KCRS weights: the one
/// place output sizes and the column layout are defined.
///
/// Columns are [C*R*S, N*P*Q]: row (c, r, s), column (n, p, q). A whole batch
/// is then a single GEMM: Y'[K, NPQ] = W[K, CRS] * columns.
public struct ConvGeometry: Sendable, Hashable, CustomStringConvertible {
    public var batch: Int          // N
    public var inChannels: Int     // C
    public var height: Int         // H
    public var width: Int          // W
    public var outChannels: Int    // K
    public var kernelHeight: Int   // R
    public var kernelWidth: Int    // S
    public var strideH: Int
    public var strideW: Int
    public var padH: Int
    public var padW: Int

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.init(batch: batch, inChannels: inChannels, height: height, width: width,
                  outChannels: outChannels, kernelHeight: kernel, kernelWidth: kernel,
                  strideH: stride, strideW: stride, padH: padding, padW: padding)
    }

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernelHeight: Int, kernelWidth: Int, strideH: Int, strideW: Int, padH: Int, padW: Int) {
        self.batch = batch
        self.inChannels = inChannels
        self.height = height
        self.width = width
        self.outChannels = outChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideH = strideH
        self.strideW = strideW
        self.padH = padH
        self.padW = padW
    }

    public var outHeight: Int { (height + 2 * padH - kernelHeight) / strideH + 1 }   // P
    public var outWidth: Int { (width + 2 * padW - kernelWidth) / strideW + 1 }      // Q

    public var inputCount: Int { batch * inChannels * height * width }
    public var weightCount: Int { outChannels * inChannels * kernelHeight * kernelWidth }
    public var outputCount: Int { batch * outChannels * outHeight * outWidth }
    public var inputLayout: ChannelLayout { ChannelLayout(outer: batch, channels: inChannels, inner: height * width) }
    public var outputLayout: ChannelLayout { ChannelLayout(outer: batch, channels: outChannels, inner: outHeight * outWidth) }
    public var columnRows: Int { inChannels * kernelHeight * kernelWidth }   // CRS
    public var columnCols: Int { batch * outHeight * outWidth }              // NPQ
    public var columnCount: Int { columnRows * columnCols }

    /// Multiply-adds of the forward pass, times two. Backward data and
    /// backward weights cost the same.
    public var flops: Double { 2 * Double(outputCount) * Double(columnRows) }

    public var description: String {
        "N\(batch) C\(inChannels) \(height)x\(width) -> K\(outChannels) \(kernelHeight)x\(kernelWidth)"
            + " s\(strideH) p\(padH) -> \(outHeight)x\(outWidth)"
    }

    package func validate() throws {
        let positive = [batch, inChannels, height, width, outChannels, kernelHeight, kernelWidth, strideH, strideW]
        guard positive.allSatisfy({ $0 > 0 }), padH >= 0, padW >= 0 else {
            throw ShapeError("convolution \(self): sizes and strides must be positive and padding non-negative")
        }
        guard height + 2 * padH >= kernelHeight, width + 2 * padW >= kernelWidth else {
            throw ShapeError("convolution \(self): the \(kernelHeight)x\(kernelWidth) kernel is larger than the padded \(height)x\(width) input")
        }
        try ShapeError.expectIndexable(columnCount, "the column buffer of convolution \(self)")
        try ShapeError.expectIndexable(inputCount, "the input of convolution \(self)")
    }

    /// The geometry and the sizes of a convolution's three operands, for
    /// every backend alike; `gradients` names the ones that are gradients.
    func validate(image: DeviceBuffer, weight: DeviceBuffer, output: DeviceBuffer,
                  gradients: Set<ConvOperand> = []) throws {
        try validate()
        func label(_ operand: ConvOperand) -> String {
            "convolution \(self) \(operand.rawValue)\(gradients.contains(operand) ? " gradient" : "")"
        }
        try ShapeError.expect(image, count: inputCount, label(.input))
        try ShapeError.expect(weight, count: weightCount, label(.weight))
        try ShapeError.expect(output, count: outputCount, label(.output))
    }
}

enum ConvOperand: String { case input, weight, output }
