//! scipy's L-BFGS-B driver (`scipy.optimize.minimize(method="L-BFGS-B")`) for problems without
//! bounds, as scikit-learn's `lbfgs` solver calls it.
//!
//! Without bounds the generalized Cauchy point is the current iterate and the subspace
//! minimisation of L-BFGS-B gives `-B^-1 g` for its compact limited-memory matrix `B` with
//! `B0 = theta I`; that inverse is applied here by the two-loop recursion (`H0 = I / theta`),
//! the same direction. Everything else follows the reference driver step by step: the first
//! step `min(1 / ||d||, 1e10)` (and `1` after), More and Thuente's `dcsrch` with
//! `ftol = 1e-3, gtol = 0.9, xtol = 0.1`, at most `max_ls` evaluations per line search (a
//! failed search restarts from an empty memory, or stops when the memory was empty), the
//! update skipped when `s'y <= eps * (-g'd) * stp`, `theta = y'y / s'y`, and scipy's loop:
//! an iteration count that stops the run before the convergence tests of the iterate that
//! reaches `max_iter`, then the projected-gradient test `max |g_i| <= pgtol` and the relative
//! reduction test `(f_old - f) <= ftol * max(|f_old|, |f|, 1)`.

use crate::{alloc, KernelError, StopCheck};

/// Settings of one run (scipy's `maxiter`, `maxls`, `gtol`, `ftol`, `maxcor`, `maxfun`).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub max_iter: usize,
    pub max_ls: usize,
    pub pgtol: f64,
    pub ftol: f64,
    pub memory: usize,
    pub max_fun: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iter: 15000,
            max_ls: 20,
            pgtol: 1e-5,
            ftol: 2.220_446_049_250_313e-9,
            memory: 10,
            max_fun: 15000,
        }
    }
}

/// How a run ended: scipy's `status` (0 converged, 1 iteration or evaluation limit,
/// 2 abnormal) and its `message`.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub x: Vec<f64>,
    pub f: f64,
    pub n_iter: usize,
    pub n_fev: usize,
    pub status: u8,
    pub message: &'static str,
}

const MSG_PGTOL: &str = "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL";
const MSG_FTOL: &str = "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH";
const MSG_MAXITER: &str = "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT";
const MSG_MAXFUN: &str = "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT";
const MSG_ABNORMAL: &str = "ABNORMAL: ";

/// Largest step of the line search (`big` of the reference code).
const STPMAX: f64 = 1e10;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(g: &[f64]) -> f64 {
    g.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// The limited memory: the last `m` pairs `(s, y)` with `rho = 1 / s'y`, oldest first.
struct Memory {
    s: Vec<f64>,
    y: Vec<f64>,
    rho: Vec<f64>,
    alpha: Vec<f64>,
    n: usize,
    m: usize,
    head: usize,
    len: usize,
}

impl Memory {
    fn new(n: usize, m: usize) -> Result<Self, KernelError> {
        Ok(Memory {
            s: alloc::filled(&[m, n], 0.0)?,
            y: alloc::filled(&[m, n], 0.0)?,
            rho: vec![0.0; m],
            alpha: vec![0.0; m],
            n,
            m,
            head: 0,
            len: 0,
        })
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    fn slot(&self, i: usize) -> usize {
        (self.head + i) % self.m
    }

    fn push(&mut self, s: &[f64], y: &[f64], sy: f64) {
        let slot = if self.len < self.m {
            self.len += 1;
            self.slot(self.len - 1)
        } else {
            let slot = self.head;
            self.head = (self.head + 1) % self.m;
            slot
        };
        let n = self.n;
        self.s[slot * n..(slot + 1) * n].copy_from_slice(s);
        self.y[slot * n..(slot + 1) * n].copy_from_slice(y);
        self.rho[slot] = 1.0 / sy;
    }

    /// `d = -H g` with `H0 = I / theta`.
    fn direction(&mut self, g: &[f64], theta: f64, d: &mut [f64]) {
        let n = self.n;
        d.copy_from_slice(g);
        for i in (0..self.len).rev() {
            let k = self.slot(i);
            let (s, y) = (&self.s[k * n..(k + 1) * n], &self.y[k * n..(k + 1) * n]);
            let a = self.rho[k] * dot(s, d);
            self.alpha[k] = a;
            d.iter_mut().zip(y).for_each(|(v, yv)| *v -= a * yv);
        }
        d.iter_mut().for_each(|v| *v /= theta);
        for i in 0..self.len {
            let k = self.slot(i);
            let (s, y) = (&self.s[k * n..(k + 1) * n], &self.y[k * n..(k + 1) * n]);
            let b = self.rho[k] * dot(y, d);
            let c = self.alpha[k] - b;
            d.iter_mut().zip(s).for_each(|(v, sv)| *v += c * sv);
        }
        d.iter_mut().for_each(|v| *v = -*v);
    }
}

/// Minimises `f` from `x0`; `fg(x, g)` returns `f(x)` and writes its gradient into `g`.
pub fn minimize<F>(
    mut x: Vec<f64>,
    options: &Options,
    stop: StopCheck,
    mut fg: F,
) -> Result<Outcome, KernelError>
where
    F: FnMut(&[f64], &mut [f64]) -> Result<f64, KernelError>,
{
    let n = x.len();
    let m = options.memory.max(1);
    let mut g = alloc::filled(&[n], 0.0)?;
    let mut f = fg(&x, &mut g)?;
    let mut n_fev = 1;
    let done = |x: Vec<f64>, f, n_iter, n_fev, status, message| {
        Ok(Outcome {
            x,
            f,
            n_iter,
            n_fev,
            status,
            message,
        })
    };
    if max_abs(&g) <= options.pgtol {
        return done(x, f, 0, n_fev, 0, MSG_PGTOL);
    }
    let mut memory = Memory::new(n, m)?;
    let mut d = alloc::filled(&[n], 0.0)?;
    let mut t = alloc::filled(&[n], 0.0)?;
    let mut r = alloc::filled(&[n], 0.0)?;
    let mut theta = 1.0;
    // `iter` counts the driver's iterations (the first step length depends on it);
    // `n_iter` counts scipy's NEW_X returns.
    let (mut iter, mut n_iter) = (0usize, 0usize);
    loop {
        if stop() {
            return Err(KernelError::Interrupted);
        }
        if memory.len == 0 {
            // The Cauchy point of `B = theta I` without bounds.
            d.iter_mut().zip(&g).for_each(|(dv, gv)| *dv = -gv / theta);
        } else {
            memory.direction(&g, theta, &mut d);
        }

        // Line search (lnsrlb).
        let dnorm = dot(&d, &d).sqrt();
        let mut stp = if iter == 0 {
            (1.0 / dnorm).min(STPMAX)
        } else {
            1.0
        };
        t.copy_from_slice(&x);
        r.copy_from_slice(&g);
        let fold = f;
        let mut gd = dot(&g, &d);
        let gdold = gd;
        let mut failed = gd.is_nan() || gd >= 0.0; // not a descent direction
        let mut search = Dcsrch::new(1e-3, 0.9, 0.1, 0.0, STPMAX);
        let mut ifun = 0usize;
        if !failed {
            loop {
                let task = search.iterate(&mut stp, f, gd);
                if task != Task::Fg {
                    break;
                }
                ifun += 1;
                if ifun > options.max_ls {
                    // `iback = ifun - 1` reached `maxls`.
                    failed = true;
                    break;
                }
                if stp == 1.0 {
                    x.iter_mut()
                        .zip(t.iter().zip(&d))
                        .for_each(|(xv, (tv, dv))| *xv = tv + dv);
                } else {
                    x.iter_mut()
                        .zip(t.iter().zip(&d))
                        .for_each(|(xv, (tv, dv))| *xv = stp * dv + tv);
                }
                f = fg(&x, &mut g)?;
                n_fev += 1;
                gd = dot(&g, &d);
                if stop() {
                    return Err(KernelError::Interrupted);
                }
            }
        }
        if failed {
            x.copy_from_slice(&t);
            g.copy_from_slice(&r);
            f = fold;
            if memory.len == 0 {
                return done(x, f, n_iter, n_fev, 2, MSG_ABNORMAL);
            }
            memory.clear();
            theta = 1.0;
            continue;
        }
        iter += 1;
        n_iter += 1;
        if n_iter >= options.max_iter {
            return done(x, f, n_iter, n_fev, 1, MSG_MAXITER);
        }
        if n_fev > options.max_fun {
            return done(x, f, n_iter, n_fev, 1, MSG_MAXFUN);
        }
        if max_abs(&g) <= options.pgtol {
            return done(x, f, n_iter, n_fev, 0, MSG_PGTOL);
        }
        if fold - f <= options.ftol * fold.abs().max(f.abs()).max(1.0) {
            return done(x, f, n_iter, n_fev, 0, MSG_FTOL);
        }
        // r = y = g_new - g_old; d becomes s.
        r.iter_mut().zip(&g).for_each(|(rv, gv)| *rv = gv - *rv);
        let rr = dot(&r, &r);
        let (dr, ddum) = if stp == 1.0 {
            (gd - gdold, -gdold)
        } else {
            d.iter_mut().for_each(|v| *v *= stp);
            ((gd - gdold) * stp, -gdold * stp)
        };
        if dr <= f64::EPSILON * ddum {
            continue; // skip the update
        }
        theta = rr / dr;
        memory.push(&d, &r, dr);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    Fg,
    Convergence,
    Warning,
    Error,
}

/// MINPACK-2's `dcsrch` (More and Thuente), as scipy's `_dcsrch.py` writes it.
struct Dcsrch {
    ftol: f64,
    gtol: f64,
    xtol: f64,
    stpmin: f64,
    stpmax: f64,
    started: bool,
    brackt: bool,
    stage: u8,
    ginit: f64,
    gtest: f64,
    width: f64,
    width1: f64,
    finit: f64,
    stx: f64,
    fx: f64,
    gx: f64,
    sty: f64,
    fy: f64,
    gy: f64,
    stmin: f64,
    stmax: f64,
}

impl Dcsrch {
    fn new(ftol: f64, gtol: f64, xtol: f64, stpmin: f64, stpmax: f64) -> Self {
        Dcsrch {
            ftol,
            gtol,
            xtol,
            stpmin,
            stpmax,
            started: false,
            brackt: false,
            stage: 1,
            ginit: 0.0,
            gtest: 0.0,
            width: 0.0,
            width1: 0.0,
            finit: 0.0,
            stx: 0.0,
            fx: 0.0,
            gx: 0.0,
            sty: 0.0,
            fy: 0.0,
            gy: 0.0,
            stmin: 0.0,
            stmax: 0.0,
        }
    }

    fn iterate(&mut self, stp: &mut f64, f: f64, g: f64) -> Task {
        const P5: f64 = 0.5;
        const P66: f64 = 0.66;
        const XTRAPL: f64 = 1.1;
        const XTRAPU: f64 = 4.0;
        if !self.started {
            if *stp < self.stpmin || *stp > self.stpmax || g >= 0.0 {
                return Task::Error;
            }
            self.started = true;
            self.brackt = false;
            self.stage = 1;
            self.finit = f;
            self.ginit = g;
            self.gtest = self.ftol * self.ginit;
            self.width = self.stpmax - self.stpmin;
            self.width1 = self.width / P5;
            self.stx = 0.0;
            self.fx = self.finit;
            self.gx = self.ginit;
            self.sty = 0.0;
            self.fy = self.finit;
            self.gy = self.ginit;
            self.stmin = 0.0;
            self.stmax = *stp + XTRAPU * *stp;
            return Task::Fg;
        }
        if !stp.is_finite() {
            return Task::Warning;
        }
        let ftest = self.finit + *stp * self.gtest;
        if self.stage == 1 && f <= ftest && g >= 0.0 {
            self.stage = 2;
        }
        let mut task = Task::Fg;
        if self.brackt && (*stp <= self.stmin || *stp >= self.stmax) {
            task = Task::Warning;
        }
        if self.brackt && self.stmax - self.stmin <= self.xtol * self.stmax {
            task = Task::Warning;
        }
        if *stp == self.stpmax && f <= ftest && g <= self.gtest {
            task = Task::Warning;
        }
        if *stp == self.stpmin && (f > ftest || g >= self.gtest) {
            task = Task::Warning;
        }
        if f <= ftest && g.abs() <= self.gtol * -self.ginit {
            task = Task::Convergence;
        }
        if task != Task::Fg {
            return task;
        }
        if self.stage == 1 && f <= self.fx && f > ftest {
            let fm = f - *stp * self.gtest;
            let mut fxm = self.fx - self.stx * self.gtest;
            let mut fym = self.fy - self.sty * self.gtest;
            let gm = g - self.gtest;
            let mut gxm = self.gx - self.gtest;
            let mut gym = self.gy - self.gtest;
            dcstep(
                &mut self.stx,
                &mut fxm,
                &mut gxm,
                &mut self.sty,
                &mut fym,
                &mut gym,
                stp,
                fm,
                gm,
                &mut self.brackt,
                self.stmin,
                self.stmax,
            );
            self.fx = fxm + self.stx * self.gtest;
            self.fy = fym + self.sty * self.gtest;
            self.gx = gxm + self.gtest;
            self.gy = gym + self.gtest;
        } else {
            dcstep(
                &mut self.stx,
                &mut self.fx,
                &mut self.gx,
                &mut self.sty,
                &mut self.fy,
                &mut self.gy,
                stp,
                f,
                g,
                &mut self.brackt,
                self.stmin,
                self.stmax,
            );
        }
        if self.brackt {
            if (self.sty - self.stx).abs() >= P66 * self.width1 {
                *stp = self.stx + P5 * (self.sty - self.stx);
            }
            self.width1 = self.width;
            self.width = (self.sty - self.stx).abs();
            self.stmin = self.stx.min(self.sty);
            self.stmax = self.stx.max(self.sty);
        } else {
            self.stmin = *stp + XTRAPL * (*stp - self.stx);
            self.stmax = *stp + XTRAPU * (*stp - self.stx);
        }
        *stp = stp.max(self.stpmin).min(self.stpmax);
        if self.brackt
            && ((*stp <= self.stmin || *stp >= self.stmax)
                || self.stmax - self.stmin <= self.xtol * self.stmax)
        {
            *stp = self.stx;
        }
        Task::Fg
    }
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// MINPACK-2's `dcstep`: a safeguarded trial step and the update of the bracketing interval.
#[allow(clippy::too_many_arguments)]
fn dcstep(
    stx: &mut f64,
    fx: &mut f64,
    dx: &mut f64,
    sty: &mut f64,
    fy: &mut f64,
    dy: &mut f64,
    stp: &mut f64,
    fp: f64,
    dp: f64,
    brackt: &mut bool,
    stpmin: f64,
    stpmax: f64,
) {
    let sgnd = sign(dp) * sign(*dx);
    let stpf;
    if fp > *fx {
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dx / s) * (dp / s)).sqrt();
        if *stp < *stx {
            gamma = -gamma;
        }
        let p = (gamma - *dx) + theta;
        let q = ((gamma - *dx) + gamma) + dp;
        let r = p / q;
        let stpc = *stx + r * (*stp - *stx);
        let stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
        stpf = if (stpc - *stx).abs() <= (stpq - *stx).abs() {
            stpc
        } else {
            stpc + (stpq - stpc) / 2.0
        };
        *brackt = true;
    } else if sgnd < 0.0 {
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dx / s) * (dp / s)).sqrt();
        if *stp > *stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + *dx;
        let r = p / q;
        let stpc = *stp + r * (*stx - *stp);
        let stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        stpf = if (stpc - *stp).abs() > (stpq - *stp).abs() {
            stpc
        } else {
            stpq
        };
        *brackt = true;
    } else if dp.abs() < dx.abs() {
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s
            * (0f64)
                .max((theta / s).powi(2) - (*dx / s) * (dp / s))
                .sqrt();
        if *stp > *stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = (gamma + (*dx - dp)) + gamma;
        let r = p / q;
        let stpc = if r < 0.0 && gamma != 0.0 {
            *stp + r * (*stx - *stp)
        } else if *stp > *stx {
            stpmax
        } else {
            stpmin
        };
        let stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if *brackt {
            let mut v = if (stpc - *stp).abs() < (stpq - *stp).abs() {
                stpc
            } else {
                stpq
            };
            if *stp > *stx {
                v = v.min(*stp + 0.66 * (*sty - *stp));
            } else {
                v = v.max(*stp + 0.66 * (*sty - *stp));
            }
            stpf = v;
        } else {
            let v = if (stpc - *stp).abs() > (stpq - *stp).abs() {
                stpc
            } else {
                stpq
            };
            stpf = v.max(stpmin).min(stpmax);
        }
    } else if *brackt {
        let theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
        let s = theta.abs().max(dy.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dy / s) * (dp / s)).sqrt();
        if *stp > *sty {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + *dy;
        let r = p / q;
        stpf = *stp + r * (*sty - *stp);
    } else if *stp > *stx {
        stpf = stpmax;
    } else {
        stpf = stpmin;
    }
    if fp > *fx {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if sgnd < 0.0 {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    #[test]
    fn rosenbrock_reaches_the_minimum() {
        let opts = Options {
            pgtol: 1e-10,
            ftol: 64.0 * f64::EPSILON,
            ..Options::default()
        };
        let out = minimize(vec![-1.2, 1.0], &opts, &never, |x, g| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            Ok((1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2))
        })
        .unwrap();
        assert_eq!(out.status, 0, "{}", out.message);
        assert!((out.x[0] - 1.0).abs() < 1e-6 && (out.x[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn quadratic_and_iteration_limit() {
        // f = 0.5 sum(c_i x_i^2): converges; with max_iter = 2 it stops there with status 1.
        let c: Vec<f64> = (1..=20).map(|i| i as f64).collect();
        let f = |x: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for i in 0..x.len() {
                g[i] = c[i] * x[i];
                v += 0.5 * c[i] * x[i] * x[i];
            }
            Ok(v)
        };
        let opts = Options {
            pgtol: 1e-8,
            ftol: 0.0,
            ..Options::default()
        };
        let out = minimize(vec![1.0; 20], &opts, &never, f).unwrap();
        assert_eq!(out.status, 0);
        assert!(out.x.iter().all(|v| v.abs() < 1e-7));
        let limited = Options {
            max_iter: 2,
            ..opts
        };
        let out = minimize(vec![1.0; 20], &limited, &never, f).unwrap();
        assert_eq!((out.status, out.n_iter), (1, 2));
        assert_eq!(out.message, MSG_MAXITER);
    }

    #[test]
    fn converged_start_takes_no_iteration() {
        let out = minimize(vec![0.0; 3], &Options::default(), &never, |x, g| {
            g.copy_from_slice(x);
            Ok(0.0)
        })
        .unwrap();
        assert_eq!((out.status, out.n_iter, out.n_fev), (0, 0, 1));
    }
}
