//! [`Backend`] on the GPU: each op is the [`Launch`] of `gpu::ops` of the same
//! name; a run is one encoder, one compute pass, one submit.

use super::{ops, Gpu, Launch, Readback, Tensor};
use crate::backend::{Backend, BackendError, BatchNormTensors, LossTarget, TensorLen};
use crate::cpu::{Activation, AdamConfig, BatchNormConfig};
use crate::geom::Conv2dGeom;

impl TensorLen for Tensor {
    fn len(&self) -> usize {
        Tensor::len(self)
    }
}

impl Backend for Gpu {
    type Tensor = Tensor;
    type Op = Launch;
    type Pass<'p> = wgpu::ComputePass<'p>;
    type Readback = Readback;

    fn describe(&self) -> String {
        format!("GPU: {}", self.adapter_summary())
    }
    fn alignment(&self) -> usize {
        (self.storage_alignment() / 4) as usize
    }
    fn zeros(&self, len: usize) -> Tensor {
        Tensor::zeros(self, len)
    }
    fn upload(&self, data: &[f32]) -> Tensor {
        Tensor::from_slice(self, data)
    }
    fn slice(&self, t: &Tensor, start: usize, len: usize) -> Tensor {
        t.slice(self, start, len)
    }
    fn write(&self, t: &Tensor, start: usize, data: &[f32]) {
        t.write_at(self, start, data)
    }

    fn run(&self, record: impl FnOnce(&mut wgpu::ComputePass<'_>)) {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("genlab step"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("genlab"),
                timestamp_writes: None,
            });
            record(&mut pass);
        }
        self.queue.submit([encoder.finish()]);
    }
    fn record(pass: &mut wgpu::ComputePass<'_>, op: &Launch) {
        op.record(pass);
    }
    fn concat(&self, ops: Vec<Launch>) -> Launch {
        Launch::concat(ops)
    }

    fn readback(&self, t: &Tensor) -> Readback {
        Readback::new(self, t)
    }
    async fn read(&self, r: &Readback) -> Result<Vec<f32>, BackendError> {
        Ok(r.read(self).await?)
    }

    fn linear_forward(
        &self,
        y: &Tensor,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        n: usize,
        d_in: usize,
        d_out: usize,
        act: Activation,
    ) -> Launch {
        ops::linear_forward(self, y, x, w, b, n, d_in, d_out, act)
    }
    fn linear_backward_input(
        &self,
        dx: &Tensor,
        dy: &Tensor,
        w: &Tensor,
        n: usize,
        d_in: usize,
        d_out: usize,
        accumulate: bool,
    ) -> Launch {
        ops::linear_backward_input(self, dx, dy, w, n, d_in, d_out, accumulate)
    }
    fn linear_backward_weight(
        &self,
        dw: &Tensor,
        dy: &Tensor,
        x: &Tensor,
        n: usize,
        d_in: usize,
        d_out: usize,
    ) -> Launch {
        ops::linear_backward_weight(self, dw, dy, x, n, d_in, d_out)
    }
    fn bias_backward(&self, db: &Tensor, dy: &Tensor, n: usize, c: usize, p: usize) -> Launch {
        ops::bias_backward(self, db, dy, n, c, p)
    }

    fn conv2d_forward(
        &self,
        y: &Tensor,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        g: &Conv2dGeom,
        act: Activation,
    ) -> Launch {
        ops::conv2d_forward(self, y, x, w, b, g, act)
    }
    fn conv2d_backward_input(
        &self,
        dx: &Tensor,
        dy: &Tensor,
        w: &Tensor,
        g: &Conv2dGeom,
        accumulate: bool,
    ) -> Launch {
        ops::conv2d_backward_input(self, dx, dy, w, g, accumulate)
    }
    fn conv2d_backward_weight(
        &self,
        dw: &Tensor,
        dy: &Tensor,
        x: &Tensor,
        g: &Conv2dGeom,
    ) -> Launch {
        ops::conv2d_backward_weight(self, dw, dy, x, g)
    }
    fn conv_transpose2d_forward(
        &self,
        y: &Tensor,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        g: &Conv2dGeom,
        act: Activation,
    ) -> Launch {
        ops::conv_transpose2d_forward(self, y, x, w, b, g, act)
    }
    fn conv_transpose2d_backward_input(
        &self,
        dx: &Tensor,
        dy: &Tensor,
        w: &Tensor,
        g: &Conv2dGeom,
        accumulate: bool,
    ) -> Launch {
        ops::conv_transpose2d_backward_input(self, dx, dy, w, g, accumulate)
    }
    fn conv_transpose2d_backward_weight(
        &self,
        dw: &Tensor,
        dy: &Tensor,
        x: &Tensor,
        g: &Conv2dGeom,
    ) -> Launch {
        ops::conv_transpose2d_backward_weight(self, dw, dy, x, g)
    }

    fn activation_forward(&self, y: &Tensor, x: &Tensor, act: Activation) -> Launch {
        ops::activation_forward(self, y, x, act)
    }
    fn activation_backward(
        &self,
        dx: &Tensor,
        dy: &Tensor,
        y: &Tensor,
        act: Activation,
        accumulate: bool,
    ) -> Launch {
        ops::activation_backward(self, dx, dy, y, act, accumulate)
    }
    fn fill(&self, out: &Tensor, value: f32) -> Launch {
        ops::fill(self, out, value)
    }
    fn step_increment(&self, step: &Tensor) -> Launch {
        ops::step_increment(self, step)
    }

    fn batchnorm_forward_train(
        &self,
        t: &BatchNormTensors<Tensor>,
        shape: (usize, usize, usize),
        cfg: BatchNormConfig,
    ) -> Launch {
        ops::batchnorm_forward_train(self, t, shape, cfg)
    }
    fn batchnorm_forward_eval(
        &self,
        t: &BatchNormTensors<Tensor>,
        shape: (usize, usize, usize),
        cfg: BatchNormConfig,
    ) -> Launch {
        ops::batchnorm_forward_eval(self, t, shape, cfg)
    }
    fn batchnorm_backward(
        &self,
        dx: &Tensor,
        dgamma: &Tensor,
        dbeta: &Tensor,
        dy: &Tensor,
        t: &BatchNormTensors<Tensor>,
        shape: (usize, usize, usize),
        accumulate: bool,
    ) -> Launch {
        ops::batchnorm_backward(self, dx, dgamma, dbeta, dy, t, shape, accumulate)
    }

    fn dropout_forward(
        &self,
        y: &Tensor,
        x: &Tensor,
        rate: f32,
        seed: u32,
        stream: u32,
        step: &Tensor,
    ) -> Launch {
        ops::dropout_forward(self, y, x, rate, seed, stream, step)
    }
    fn dropout_backward(
        &self,
        dx: &Tensor,
        dy: &Tensor,
        rate: f32,
        seed: u32,
        stream: u32,
        step: &Tensor,
        accumulate: bool,
    ) -> Launch {
        ops::dropout_backward(self, dx, dy, rate, seed, stream, step, accumulate)
    }
    fn gaussian_noise(
        &self,
        out: &Tensor,
        mean: f32,
        std: f32,
        seed: u32,
        stream: u32,
        step: &Tensor,
    ) -> Launch {
        ops::gaussian_noise(self, out, mean, std, seed, stream, step)
    }

    fn bce_with_logits(
        &self,
        dx: &Tensor,
        x: &Tensor,
        t: LossTarget<Tensor>,
        loss: &Tensor,
        slot: usize,
    ) -> Launch {
        ops::bce_with_logits(self, dx, x, t, loss, slot)
    }
    fn bernoulli_reconstruction(
        &self,
        dx: &Tensor,
        logits: &Tensor,
        t: &Tensor,
        n: usize,
        loss: &Tensor,
        slot: usize,
    ) -> Launch {
        ops::bernoulli_reconstruction(self, dx, logits, t, n, loss, slot)
    }
    fn least_squares(
        &self,
        dx: &Tensor,
        x: &Tensor,
        t: LossTarget<Tensor>,
        loss: &Tensor,
        slot: usize,
    ) -> Launch {
        ops::least_squares(self, dx, x, t, loss, slot)
    }
    fn mse(
        &self,
        dx: &Tensor,
        x: &Tensor,
        t: LossTarget<Tensor>,
        loss: &Tensor,
        slot: usize,
    ) -> Launch {
        ops::mse(self, dx, x, t, loss, slot)
    }
    fn softmax_cross_entropy(
        &self,
        dx: &Tensor,
        logits: &Tensor,
        t: &Tensor,
        n: usize,
        loss: &Tensor,
        slot: usize,
    ) -> Launch {
        ops::softmax_cross_entropy(self, dx, logits, t, n, loss, slot)
    }

    fn gaussian_kl(
        &self,
        dmu: &Tensor,
        dlogvar: &Tensor,
        mu: &Tensor,
        logvar: &Tensor,
        n: usize,
        beta: f32,
        loss: &Tensor,
        slot: usize,
    ) -> Launch {
        ops::gaussian_kl(self, dmu, dlogvar, mu, logvar, n, beta, loss, slot)
    }

    fn reparameterize_forward(
        &self,
        z: &Tensor,
        mu: &Tensor,
        logvar: &Tensor,
        eps: &Tensor,
    ) -> Launch {
        ops::reparameterize_forward(self, z, mu, logvar, eps)
    }
    fn reparameterize_backward(
        &self,
        dmu: &Tensor,
        dlogvar: &Tensor,
        dz: &Tensor,
        logvar: &Tensor,
        eps: &Tensor,
        accumulate: bool,
    ) -> Launch {
        ops::reparameterize_backward(self, dmu, dlogvar, dz, logvar, eps, accumulate)
    }
    fn adam_step(
        &self,
        p: &Tensor,
        g: &Tensor,
        m: &Tensor,
        v: &Tensor,
        step: &Tensor,
        cfg: AdamConfig,
    ) -> Launch {
        ops::adam_step(self, p, g, m, v, step, cfg)
    }
}
